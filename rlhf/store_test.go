package rlhf_test

import (
	"context"
	"fmt"
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

// testLease is a lease held by "replica-a" for an hour from now.
func testLease() rlhf.Lease { return rlhf.Lease{Owner: "replica-a", Until: time.Now().Add(time.Hour)} }

// newTurn stores a turn of n streaming candidates on a fresh database, under testLease.
func newTurn(t testing.TB, pool *pgxpool.Pool, n int) rlhf.Turn {
	return newLeasedTurn(t, pool, n, testLease())
}

// newLeasedTurn stores a turn of n streaming candidates under lease.
func newLeasedTurn(t testing.TB, pool *pgxpool.Pool, n int, lease rlhf.Lease) rlhf.Turn {
	store, ps := rlhf.NewStore(pool), prompts.NewStore(pool)
	t.Helper()
	ctx := context.Background()
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "锁顺序"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: fmt.Sprintf("t%d", persona.ID), DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	specs := make([]rlhf.CandidateSpec, n)
	for i := range specs {
		specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}
	}
	turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN",
		UserID: u.ID, Message: "问题", Candidates: specs, Lease: lease})
	require.NoError(t, err)
	return turn
}

// TestFlushAndFinishNeverDeadlock runs the once-a-second save of every live candidate
// against the candidates' own final saves, as a busy replica does. They once locked
// candidates and messages in opposite orders, and PostgreSQL broke the cycles by failing
// saves with "deadlock detected".
func TestFlushAndFinishNeverDeadlock(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	const rounds, n = 30, 8
	for round := range rounds {
		turn := newTurn(t, pool, n)
		var wg sync.WaitGroup
		errc := make(chan error, 4*n)
		// One flusher, as each replica's hub has, saving every live candidate again and
		// again while their streams finish.
		wg.Go(func() {
			for k := range 4 {
				batch := make([]rlhf.Snapshot, n)
				for i, c := range turn.Candidates {
					batch[(i+k)%n] = rlhf.Snapshot{ID: c.ID, Content: fmt.Sprintf("部分 %d-%d", round, k), Dirty: true}
				}
				_, err := store.Flush(ctx, testLease(), time.Now(), batch)
				errc <- err
			}
		})
		for _, c := range turn.Candidates {
			wg.Go(func() {
				c.Content, c.Status, c.FinishReason = "完整的回复", rlhf.StatusComplete, "stop"
				errc <- store.Finish(ctx, c)
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			require.NoError(t, err, "round %d", round)
		}
		got, err := store.Turn(ctx, turn.ID)
		require.NoError(t, err)
		for _, c := range got.Candidates {
			assert.Equal(t, rlhf.StatusComplete, c.Status)
			assert.Equal(t, "完整的回复", c.Content, "a late flush never undoes a finish")
		}
	}
}

// TestUsableMeansTheSameInGoAndSQL: what a judgment may rank (Go) and what an export may
// hold (SQL) once disagreed on white space beyond ASCII.
func TestUsableMeansTheSameInGoAndSQL(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	for _, tt := range []struct {
		status  rlhf.Status
		content string
	}{
		{"complete", "回复"}, {"complete", ""}, {"complete", " \t\n"}, {"complete", "\u3000\u3000"},
		{"complete", "\u00a0\u200b\ufeff"}, {"complete", "\u2003x\u2003"}, {"cancelled", "半句"}, {"interrupted", "\n"},
		{"failed", "部分"}, {"streaming", "正在"},
	} {
		var sql bool
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT `+rlhf.UsableSQL("$1::text", "$2::text"), tt.status, tt.content).Scan(&sql))
		assert.Equal(t, rlhf.Usable(tt.status, tt.content), sql, "%s %q", tt.status, tt.content)
	}
}
