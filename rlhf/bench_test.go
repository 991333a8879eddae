package rlhf_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/internal/loadgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// BenchmarkSubmit measures Submit alone, one at a time on one warm connection: the CPU a
// judgment costs this process and PostgreSQL (go-cpu-ms/op, pg-cpu-ms/op), which repeat on
// a busy machine where its latency does not (issue 17). A ranking of four, a gold reply and
// its ten pairs, as BenchmarkJudgmentSubmit sends.
func BenchmarkSubmit(b *testing.B) {
	pool, rt := pgtest.CountingPool(b, 1)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	turn := newTurn(b, pool, 4)
	for _, c := range turn.Candidates {
		c.Content, c.Status, c.FinishReason = fmt.Sprintf("回复 %d", c.ID), "complete", "stop"
		if err := store.Finish(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	c := turn.Candidates
	n := 0
	submit := func() error {
		n++
		_, err := store.Submit(ctx, turn.ID, turn.CreatedBy, rlhf.Submission{IdempotencyKey: fmt.Sprintf("bench-%08d", n),
			Ranking: [][]int64{{c[0].ID}, {c[1].ID, c[2].ID}, {c[3].ID}}, Gold: &rlhf.GoldInput{Content: "标准答案"},
			ContinueFrom: rlhf.ContinueFrom{Gold: true}, TimeSpentMillis: 1000})
		return err
	}
	measureEach(b, pool, rt, submit)
}

// measureEach runs op once per iteration after ten unmeasured runs (past the statement
// cache's first use and PostgreSQL's first custom plans), and reports its CPU in this process
// and in PostgreSQL, and its round trips, per run.
func measureEach(b *testing.B, pool *pgxpool.Pool, rt *pgtest.RoundTrips, op func() error) {
	b.Helper()
	for range 10 {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	var trips int64
	b.ResetTimer()
	u, err := loadgen.Measure(context.Background(), pool, func() error {
		before := rt.Count()
		for b.Loop() {
			if err := op(); err != nil {
				return err
			}
		}
		trips = rt.Count() - before
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	g, p, _, _ := u.PerOp(int64(b.N))
	b.ReportMetric(g, "go-cpu-ms/op")
	b.ReportMetric(p, "pg-cpu-ms/op")
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
}
