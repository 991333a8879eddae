package rlhf_test

import (
	"context"
	"fmt"
	"testing"

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
	// Past the statement cache's first use and PostgreSQL's first custom plans, and enough
	// judgments and messages that the statistics ANALYZE takes (as autovacuum keeps them on a
	// live database) make the foreign keys' checks index lookups: planned on the nearly empty
	// tables, each check read messages whole, a page more every few dozen judgments, and the
	// figure grew with b.N (perf on the backend, issue 17). ANALYZE invalidates the plans made
	// before it.
	for range 300 {
		if err := submit(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	for range 10 {
		if err := submit(); err != nil {
			b.Fatal(err)
		}
	}
	var trips int64
	b.ResetTimer()
	u, err := loadgen.Measure(ctx, pool, func() error {
		before := rt.Count()
		for b.Loop() {
			if err := submit(); err != nil {
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
