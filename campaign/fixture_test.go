package campaign_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/honeypot"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// clock is a settable time for leases: tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a project with a persona, a published version, an admin and a campaign store on
// a fresh database.
type fixture struct {
	pool    *pgxpool.Pool
	store   *campaign.Store
	live    *rlhf.Store
	prompts *prompts.Store
	clock   *clock
	project prompts.Project
	persona prompts.Persona
	version prompts.Version
	admin   int64
	models  *llm.Registry
	events  *events
	queue   jobs.Inserter
}

// events records what the store announced.
type events struct {
	mu        sync.Mutex
	completed []int64
	closed    []int64
	paused    []campaign.Pause
}

func setup(t testing.TB) *fixture {
	t.Helper()
	models, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	return setupWith(t, models)
}

// setupWith is setup with the models campaign plans may name.
func setupWith(t testing.TB, models *llm.Registry) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	inserter, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	f := &fixture{pool: pool, live: rlhf.NewStore(pool), prompts: prompts.NewStore(pool),
		clock: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, models: models, events: &events{}, queue: inserter}
	f.store = campaign.NewStore(pool, models, inserter, campaign.Options{Now: f.clock.now, Location: time.UTC, Events: campaign.Events{
		ItemCompleted: func(_ context.Context, _, item int64) {
			f.events.mu.Lock()
			defer f.events.mu.Unlock()
			f.events.completed = append(f.events.completed, item)
		},
		CampaignClosed: func(_ context.Context, c int64) {
			f.events.mu.Lock()
			defer f.events.mu.Unlock()
			f.events.closed = append(f.events.closed, c)
		},
		TrainerPaused: func(_ context.Context, p campaign.Pause) {
			f.events.mu.Lock()
			defer f.events.mu.Unlock()
			f.events.paused = append(f.events.paused, p)
		},
	}})
	f.project, err = f.prompts.CreateProject(ctx, prompts.Project{Name: "海关问答"})
	require.NoError(t, err)
	f.persona, err = f.prompts.CreatePersona(ctx, prompts.Persona{ProjectID: f.project.ID, Name: "关务助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	f.version, err = f.prompts.PublishVersion(ctx, f.persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	f.admin = f.user(t, "admin", "admin")
	return f
}

// user adds a project member without hashing a password (thousands of hashes are slow).
func (f *fixture) user(t testing.TB, login, role string) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO users (login, display_name, password_hash) VALUES ($1, $1, 'x') RETURNING id`, login).Scan(&id))
	_, err := f.pool.Exec(ctx, `INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)`, f.project.ID, id, role)
	require.NoError(t, err)
	return id
}

// trainers adds n trainers named prefix-1 … prefix-n.
func (f *fixture) trainers(t testing.TB, prefix string, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = f.user(t, fmt.Sprintf("%s-%d", prefix, i+1), "trainer")
	}
	return out
}

// campaign creates a campaign with k and the input's other fields filled in.
func (f *fixture) campaign(t testing.TB, in campaign.Input) campaign.Campaign {
	t.Helper()
	if in.Name == "" {
		in.Name = "报关问题"
	}
	in.PersonaID = f.persona.ID
	if in.TaskKind == "" {
		in.TaskKind = campaign.RankRate
	}
	if in.Plan == nil {
		in.Plan = []campaign.PlanEntry{{PromptVersionID: f.version.ID}, {PromptVersionID: f.version.ID}}
	}
	saved, err := f.store.Create(context.Background(), f.project.ID, f.admin, in)
	require.NoError(t, err)
	return saved.Campaign
}

// readyItems imports n questions and gives each a turn of two complete candidates, as the
// generation job would, then opens the campaign.
func (f *fixture) readyItems(t *testing.T, c campaign.Campaign, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	items := make([]campaign.ItemInput, n)
	for i := range items {
		items[i] = campaign.ItemInput{ExternalID: fmt.Sprintf("q%d", i+1), Question: fmt.Sprintf("第 %d 个问题：进口奶粉要交哪些税？", i+1)}
	}
	rep, err := f.store.AddItems(ctx, c.ID, items)
	require.NoError(t, err)
	require.Equal(t, n, rep.Added)
	rows, _ := f.pool.Query(ctx, `SELECT id, question FROM campaign_items WHERE campaign_id = $1 ORDER BY id`, c.ID)
	var ids []int64
	var questions []string
	for rows.Next() {
		var id int64
		var q string
		require.NoError(t, rows.Scan(&id, &q))
		ids, questions = append(ids, id), append(questions, q)
	}
	require.NoError(t, rows.Err())
	for i, id := range ids {
		turn, err := f.live.StartTurn(ctx, rlhf.NewTurn{ProjectID: f.project.ID, PersonaID: f.persona.ID, Locale: "zh-CN", UserID: f.admin, Lease: rlhf.Lease{Owner: "test", For: time.Hour},
			Message: questions[i], Candidates: []rlhf.CandidateSpec{
				{Position: 1, Model: "m", PromptVersionID: f.version.ID, SystemPromptHash: "h"},
				{Position: 2, Model: "m", PromptVersionID: f.version.ID, SystemPromptHash: "h"}}})
		require.NoError(t, err)
		for j, cand := range turn.Candidates {
			cand.Status, cand.Content = "complete", fmt.Sprintf("回答 %d", j+1)
			require.NoError(t, f.live.Finish(ctx, cand))
		}
		_, err = f.pool.Exec(ctx, `UPDATE campaign_items SET turn_id = $2, generation = 'ready' WHERE id = $1`, id, turn.ID)
		require.NoError(t, err)
	}
	_, err = f.pool.Exec(ctx, `UPDATE campaigns SET state = 'open' WHERE id = $1`, c.ID)
	require.NoError(t, err)
	return ids
}

// judge submits a ranking of the claim's turn through the claim, as the server does.
func (f *fixture) judge(ctx context.Context, claimID, trainerID int64, key string) (rlhf.Submitted, error) {
	prep, err := f.store.PrepareSubmit(ctx, claimID, trainerID)
	if err != nil {
		return rlhf.Submitted{}, err
	}
	turn, err := f.live.Turn(ctx, prep.TurnID)
	if err != nil {
		return rlhf.Submitted{}, err
	}
	a, b := turn.Candidates[0].ID, turn.Candidates[1].ID
	res, err := f.live.Submit(ctx, prep.TurnID, trainerID, rlhf.Submission{IdempotencyKey: key,
		Ranking: [][]int64{{a}, {b}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: a}, InTx: prep.InTx})
	if err == nil && !res.Replayed {
		prep.Done(ctx)
	}
	return res, err
}

// gold makes an item a gold item whose known best candidate is the one judge ranks first.
func (f *fixture) gold(t testing.TB, campaignID, itemID int64) campaign.GoldItem {
	t.Helper()
	ctx := context.Background()
	var best int64
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT min(c.id) FROM candidates c JOIN campaign_items i ON i.turn_id = c.turn_id WHERE i.id = $1`, itemID).Scan(&best))
	g, err := f.store.SetGold(ctx, campaignID, f.admin, campaign.GoldInput{ItemID: itemID, Answer: honeypot.Answer{Kind: honeypot.Best, CandidateID: best}})
	require.NoError(t, err)
	return g
}

func submission(key string, a, b int64, hook func(ctx context.Context, tx pgx.Tx, judgmentID int64) error) rlhf.Submission {
	return rlhf.Submission{IdempotencyKey: key, Ranking: [][]int64{{a}, {b}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: a}, InTx: hook}
}
