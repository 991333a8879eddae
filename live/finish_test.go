package live

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestFinalSavesThatComeTogetherAreAllAnswered: many streams end at once and their final
// saves share batches (finish.go). Every one is saved and told so, and the one another
// replica owns is told it was not written; nobody is left waiting when the lead is handed on.
func TestFinalSavesThatComeTogetherAreAllAnswered(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	e, err := New(testDeps(pool), Config{Replica: "replica-a", Lease: 10 * time.Second, Sweep: time.Hour, Check: time.Hour,
		Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
	require.NoError(t, err)
	ps, store := prompts.NewStore(pool), rlhf.NewStore(pool)
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "批量"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: "batch", DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	var cands []rlhf.Candidate
	for range 12 {
		specs := make([]rlhf.CandidateSpec, 8)
		for i := range specs {
			specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}
		}
		turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: u.ID,
			Message: "问题", Candidates: specs, Lease: rlhf.Lease{Owner: "replica-a", For: 10 * time.Second}})
		require.NoError(t, err)
		cands = append(cands, turn.Candidates...)
	}
	written := make([]bool, len(cands))
	errs := make([]error, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Go(func() {
			c.Owner, c.Content, c.Status, c.FinishReason, c.Seq = "replica-a", "回复", rlhf.StatusComplete, "stop", 3
			if i == 5 {
				c.Owner = "replica-b" // not this candidate's owner
			}
			written[i], errs[i] = e.finish(ctx, rlhf.Final{C: c})
		})
	}
	wg.Wait()
	for i := range cands {
		require.NoError(t, errs[i], "candidate %d", i)
		assert.Equal(t, i != 5, written[i], "candidate %d", i)
	}
	var complete int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM candidates WHERE status = 'complete'`).Scan(&complete))
	assert.Equal(t, len(cands)-1, complete)
	e.finishes.mu.Lock()
	defer e.finishes.mu.Unlock()
	assert.Zero(t, e.finishes.inFlight, "every lead is let go once the queue is empty")
	assert.Empty(t, e.finishes.queue)
}

// TestFinalSavesDoNotWaitForTheirAnnouncement: a final save is answered once the database has
// it, without a notification to the other replicas on its path (a leader used to send one
// before its own stream's done, and before handing on the batch queued behind it). The turns
// are noted, and the announcer sends every turn noted meanwhile in one notification.
func TestFinalSavesDoNotWaitForTheirAnnouncement(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	e, err := New(testDeps(pool), Config{Replica: "replica-a", Lease: 10 * time.Second, Sweep: time.Hour, Check: time.Hour,
		Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
	require.NoError(t, err) // not run: its announcer sends nothing until the test starts it
	ps, store := prompts.NewStore(pool), rlhf.NewStore(pool)
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "宣布"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: "announce", DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	var turns []int64
	var wg sync.WaitGroup
	for range 3 {
		turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: u.ID,
			Message: "问题", Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"},
				{Position: 2, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}},
			Lease: rlhf.Lease{Owner: "replica-a", For: 10 * time.Second}})
		require.NoError(t, err)
		turns = append(turns, turn.ID)
		for _, c := range turn.Candidates {
			wg.Go(func() {
				c.Owner, c.Content, c.Status, c.FinishReason, c.Seq = "replica-a", "回复", rlhf.StatusComplete, "stop", 3
				written, err := e.finish(ctx, rlhf.Final{C: c})
				assert.NoError(t, err)
				assert.True(t, written)
			})
		}
	}
	wg.Wait() // every save answered, with no announcement sent
	e.announceMu.Lock()
	assert.ElementsMatch(t, turns, e.announced, "each turn noted once")
	e.announceMu.Unlock()

	listen, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer listen.Release()
	_, err = listen.Exec(ctx, "LISTEN "+notifyChannel)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.announceLoop(runCtx) }()
	defer func() { stop(); <-done }()
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := listen.Conn().WaitForNotification(waitCtx)
	require.NoError(t, err)
	var ev busEvent
	require.NoError(t, json.Unmarshal([]byte(n.Payload), &ev))
	assert.Equal(t, kindFinished, ev.Kind)
	assert.ElementsMatch(t, turns, ev.Turns, "one notification names every turn noted meanwhile")
	_, err = listen.Exec(ctx, "UNLISTEN *")
	require.NoError(t, err)
}
