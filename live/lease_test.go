package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTheSaveLoopKeepsOrStopsStreamsByTheirLease drives a hub's save (the once-a-second
// save) with an injected clock: a save that goes through renews a stream's lease; one that
// cannot reach the database leaves it to run out, and then the stream is stopped; a stream
// another replica's sweep gave up is stopped at the next save. A stopped stream's cause is
// ErrLeaseLost.
func TestTheSaveLoopKeepsOrStopsStreamsByTheirLease(t *testing.T) {
	t.Parallel()
	const lease = 10 * time.Second
	tests := []struct {
		name     string
		run      func(t *testing.T, h *Engine, clock *fakeClock, store *rlhf.Store)
		wantStop bool
	}{
		{"saves that go through keep it streaming", func(t *testing.T, h *Engine, clock *fakeClock, _ *rlhf.Store) {
			for range 30 { // thirty seconds, three leases
				clock.advance(time.Second)
				h.save(context.Background())
			}
		}, false},
		{"a database out of reach for less than the lease keeps it streaming", func(t *testing.T, h *Engine, clock *fakeClock, _ *rlhf.Store) {
			down, cancel := context.WithCancel(context.Background())
			cancel() // every statement fails at once, as with the database gone
			for range 9 {
				clock.advance(time.Second)
				h.save(down)
			}
			clock.advance(time.Second / 2)
			h.save(context.Background())
		}, false},
		{"a database out of reach for the whole lease stops it", func(t *testing.T, h *Engine, clock *fakeClock, _ *rlhf.Store) {
			down, cancel := context.WithCancel(context.Background())
			cancel()
			for range 10 {
				clock.advance(time.Second)
				h.save(down)
			}
		}, true},
		{"a stream swept by another replica stops at the next save", func(t *testing.T, h *Engine, clock *fakeClock, store *rlhf.Store) {
			// Another replica sweeps once the database's clock is past the lease, as if this
			// one had stalled: store's clock is that far ahead.
			n, err := store.Sweep(context.Background())
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
			clock.advance(time.Second)
			h.save(context.Background())
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			store := rlhf.NewStore(pool)
			clock := &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			h, err := New(testDeps(pool), Config{Replica: "replica-a", Lease: lease, Sweep: time.Hour, Check: time.Hour, Now: clock.Now,
				Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
			require.NoError(t, err)
			l, until := h.lease()
			c := streamingCandidate(t, store, prompts.NewStore(pool), auth.NewStore(pool, nil), l)
			ctx, stop := context.WithCancelCause(context.Background())
			h.track(c.ID, until, stop, func() (streamText, uint64) { return streamText{content: "部分"}, 1 })
			// The other replica's store, its clock past this stream's lease.
			ahead := rlhf.NewStore(pool, rlhf.WithClock(func() time.Time { return time.Now().Add(lease + time.Second) }))
			tt.run(t, h, clock, ahead)
			if tt.wantStop {
				assert.ErrorIs(t, context.Cause(ctx), ErrLeaseLost)
			} else {
				assert.NoError(t, ctx.Err(), "the stream goes on")
				st, err := store.Turn(context.Background(), c.TurnID)
				require.NoError(t, err)
				assert.Equal(t, rlhf.StatusStreaming, st.Candidates[0].Status)
				assert.Equal(t, "部分", st.Candidates[0].Content)
			}
		})
	}
}

// streamingCandidate stores a turn with one candidate streaming under lease.
func streamingCandidate(t *testing.T, store *rlhf.Store, ps *prompts.Store, as *auth.Store, lease rlhf.Lease) rlhf.Candidate {
	t.Helper()
	ctx := context.Background()
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "租约"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := as.CreateUser(ctx, auth.NewUser{Login: "lease", DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: u.ID,
		Message: "问题", Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}}, Lease: lease})
	require.NoError(t, err)
	return turn.Candidates[0]
}

// testDeps are an engine's dependencies on pool, with no model but the offline baselines.
func testDeps(pool *pgxpool.Pool) Deps {
	models, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{Getenv: func(string) string { return "" }})
	if err != nil {
		panic(err)
	}
	rs := retrieval.NewStore(pool, nil, nil)
	return Deps{Logger: slog.New(slog.DiscardHandler), Pool: pool, Auth: auth.NewStore(pool, nil), Store: rlhf.NewStore(pool),
		Prompts: prompts.NewStore(pool), Models: models, Generator: generation.New(rs, models, nil), Renderer: render.New(),
		Decode: func(raw []byte, v any) error { return json.Unmarshal(raw, v) }, CheckNUL: func([]byte) error { return nil }}
}
