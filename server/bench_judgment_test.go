package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// judgedTurns stores n finished turns of four candidates each, ready to be judged.
func judgedTurns(b *testing.B, f fixture, n int) [][]int64 {
	b.Helper()
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	sum, err := demo.Load(ctx, ps, retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	if err != nil {
		b.Fatal(err)
	}
	personas, _ := ps.Personas(ctx, sum.Project.ID)
	versions, _ := ps.Versions(ctx, personas[0].ID)
	root, _ := f.auth.UserByLogin(ctx, "root")
	store := rlhf.NewStore(f.pool)
	var out [][]int64
	for range n {
		specs := make([]rlhf.CandidateSpec, 4)
		for i := range specs {
			specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "baseline-extractive", Endpoint: "offline", PromptVersionID: versions[0].ID,
				Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "h"}
		}
		turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: sum.Project.ID, PersonaID: personas[0].ID, Locale: "zh-CN", UserID: root.ID,
			Message: "基准测试的问题", Candidates: specs, Lease: rlhf.Lease{Owner: "fixture", Until: time.Now().Add(time.Hour)}})
		if err != nil {
			b.Fatal(err)
		}
		ids := []int64{turn.ID}
		for _, c := range turn.Candidates {
			c.Content, c.Status = "一个候选回复。", "complete"
			if err := store.Finish(ctx, c); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		out = append(out, ids)
	}
	return out
}

func submission(turn []int64, n int64) (string, map[string]any) {
	c := turn[1:]
	return fmt.Sprintf("/api/v1/turns/%d/judgments", turn[0]), map[string]any{
		"idempotency_key": fmt.Sprintf("bench-%020d", n),
		"ranking":         [][]int64{{c[0]}, {c[1], c[2]}, {c[3]}},
		"ratings":         map[string]any{fmt.Sprint(c[0]): map[string]int{"accuracy": 5}, fmt.Sprint(c[3]): map[string]int{"accuracy": 2}},
		"gold":            map[string]any{"content": "标准答案。"},
		"continue_from":   map[string]any{"gold": true},
		"time_spent_ms":   30000,
	}
}

// BenchmarkJudgmentSubmit measures POST /api/v1/turns/:turn/judgments end to end (session,
// access check, rubric, the locked transaction, nine derived pairs), closed-loop at full
// speed, and open-loop at 500 submissions a second, the target rate.
func BenchmarkJudgmentSubmit(b *testing.B) {
	f := setupBench(b)
	turns := judgedTurns(b, f, 400)
	var seq atomic.Int64
	submit := func() (time.Duration, error) {
		n := seq.Add(1)
		path, body := submission(turns[int(n)%len(turns)], n)
		start := time.Now()
		res := f.admin.request(b, "POST", path, body)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return time.Since(start), nil
	}

	b.Run("closed-loop", func(b *testing.B) {
		var rec latency.Recorder
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d, err := submit()
				if err != nil {
					b.Error(err)
					return
				}
				rec.Add(d)
			}
		})
		rec.Report(b, "")
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
	})

	b.Run("rate=500/s", func(b *testing.B) {
		var rec latency.Recorder
		var wg sync.WaitGroup
		var failed atomic.Int64
		tick := time.NewTicker(2 * time.Millisecond) // 500 a second, whatever the answers take
		defer tick.Stop()
		start := time.Now()
		for b.Loop() {
			<-tick.C
			wg.Go(func() {
				d, err := submit()
				if err != nil {
					failed.Add(1)
					return
				}
				rec.Add(d)
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Errorf("%d submissions failed", failed.Load())
		}
		rec.Report(b, "")
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
	})
}
