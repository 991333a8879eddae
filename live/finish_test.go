package live

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// streamingTurns starts turns of perTurn candidates each, streaming under replica-a's
// lease, and returns an engine of replica-a (not run) with the candidates.
func streamingTurns(t *testing.T, pool *pgxpool.Pool, login string, turns, perTurn int) (*Engine, []rlhf.Candidate) {
	t.Helper()
	ctx := context.Background()
	e, err := New(testDeps(pool), Config{Replica: "replica-a", Lease: 10 * time.Second, Sweep: time.Hour, Check: time.Hour,
		Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
	require.NoError(t, err)
	ps, store := prompts.NewStore(pool), rlhf.NewStore(pool)
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "批量 " + login})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: login, DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	var cands []rlhf.Candidate
	for range turns {
		specs := make([]rlhf.CandidateSpec, perTurn)
		for i := range specs {
			specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}
		}
		turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: u.ID,
			Message: "问题", Candidates: specs, Lease: rlhf.Lease{Owner: "replica-a", For: 10 * time.Second}})
		require.NoError(t, err)
		cands = append(cands, turn.Candidates...)
	}
	return e, cands
}

// TestFinalSavesThatComeTogetherAreAllAnswered: many streams end at once and their final
// saves share batches (finish.go). Every one is saved and told so, and the one another
// replica owns is told it was not written; nobody is left waiting when the lead is handed on.
func TestFinalSavesThatComeTogetherAreAllAnswered(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	e, cands := streamingTurns(t, pool, "batch", 12, 8)
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

// finalsOf is each candidate finished as replica-a's, with a reply.
func finalsOf(cands []rlhf.Candidate) []rlhf.Final {
	out := make([]rlhf.Final, len(cands))
	for i, c := range cands {
		c.Owner, c.Content, c.Status, c.FinishReason, c.Seq = "replica-a", "回复", rlhf.StatusComplete, "stop", 3
		out[i] = rlhf.Final{C: c}
	}
	return out
}

// behindABlockedSave saves finals[0] while another transaction holds its row, so that it is
// in flight, then the others while it waits; then lets it go, and returns each save's
// answer. The others queue behind the one in flight, or (as when four could be in flight)
// lead saves of their own.
func behindABlockedSave(t *testing.T, pool *pgxpool.Pool, e *Engine, finals []rlhf.Final) ([]bool, []error) {
	t.Helper()
	ctx := context.Background()
	blocker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer blocker.Rollback(ctx) //nolint:errcheck // rolled back below; a second rollback does nothing
	_, err = blocker.Exec(ctx, `SELECT 1 FROM candidates WHERE id = $1 FOR UPDATE`, finals[0].C.ID)
	require.NoError(t, err)
	var wg sync.WaitGroup
	written := make([]bool, len(finals))
	errs := make([]error, len(finals))
	wg.Go(func() { written[0], errs[0] = e.finish(ctx, finals[0]) })
	state := func() (inFlight, queued int) {
		e.finishes.mu.Lock()
		defer e.finishes.mu.Unlock()
		return e.finishes.inFlight, len(e.finishes.queue)
	}
	require.Eventually(t, func() bool { n, _ := state(); return n == 1 }, 5*time.Second, time.Millisecond)
	for i := 1; i < len(finals); i++ {
		wg.Go(func() { written[i], errs[i] = e.finish(ctx, finals[i]) })
	}
	require.Eventually(t, func() bool { n, q := state(); return n > 1 || q == len(finals)-1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, blocker.Rollback(ctx))
	wg.Wait()
	return written, errs
}

// TestFinalSavesArrivingDuringASaveShareTheNext: the final saves that arrive while one is
// being saved wait for it, and then go together, in one statement and one commit (group
// commit). With four saves let in flight at once, each of these went alone: three
// transactions where one does (issue 12: the relay's final saves averaged 1.0 a statement).
func TestFinalSavesArrivingDuringASaveShareTheNext(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	e, cands := streamingTurns(t, pool, "group", 1, 4)
	finals := finalsOf(cands)
	written, errs := behindABlockedSave(t, pool, e, finals)
	for i := range cands {
		require.NoError(t, errs[i], "candidate %d", i)
		assert.True(t, written[i], "candidate %d", i)
	}
	var transactions int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(DISTINCT xmin::text) FROM candidates WHERE id = ANY ($1)`,
		[]int64{cands[1].ID, cands[2].ID, cands[3].ID}).Scan(&transactions))
	assert.Equal(t, 1, transactions, "the saves that waited for the first one went in one transaction")
}

// TestAFinalSaveTheDatabaseRefusesFailsAlone: saves that share a statement share its failure,
// so a failed batch is saved again one by one, and only the save that is refused fails, not
// the streams that ended with it (which would be recorded as failed, their replies lost).
func TestAFinalSaveTheDatabaseRefusesFailsAlone(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	e, cands := streamingTurns(t, pool, "refused", 1, 4)
	finals := finalsOf(cands)
	finals[2].C.Status = rlhf.StatusStreaming // not a final state: FinishAll refuses the statement
	written, errs := behindABlockedSave(t, pool, e, finals)
	for i := range cands {
		if i == 2 {
			assert.Error(t, errs[i], "the refused save")
			continue
		}
		require.NoError(t, errs[i], "candidate %d", i)
		assert.True(t, written[i], "candidate %d", i)
	}
	var complete int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM candidates WHERE id = ANY ($1) AND status = 'complete'`,
		[]int64{cands[0].ID, cands[1].ID, cands[3].ID}).Scan(&complete))
	assert.Equal(t, 3, complete)
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
