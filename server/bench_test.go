package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// BenchmarkReadyz measures a full HTTP round trip through the middleware stack that also
// queries PostgreSQL: the floor under every API call that touches the database.
func BenchmarkReadyz(b *testing.B) {
	f := setupBench(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var rec latency.Recorder
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res, err := client.Get(f.srv.URL + "/readyz")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
			rec.Since(start)
		}
	})
	rec.Report(b, "")
}

// BenchmarkAuthorizedRead measures an API read through the whole access path: session
// lookup, role, persona resolution, policy, handler (persona, rubric and versions).
func BenchmarkAuthorizedRead(b *testing.B) {
	f := setupBench(b)
	sum, err := demo.Load(context.Background(), prompts.NewStore(f.pool), retrieval.NewStore(f.pool), f.models.Has)
	if err != nil {
		b.Fatal(err)
	}
	personas, err := prompts.NewStore(f.pool).Personas(context.Background(), sum.Project.ID)
	if err != nil {
		b.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/personas/%d", personas[0].ID)
	var rec latency.Recorder
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res := f.admin.request(b, "GET", path, nil)
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
			rec.Since(start)
		}
	})
	rec.Report(b, "")
}

// BenchmarkTryBaseline measures one whole try: retrieval over a demo corpus (56 documents),
// template rendering, the offline baseline streamed without pacing, markdown rendering.
func BenchmarkTryBaseline(b *testing.B) {
	f := setupBench(b)
	sum, err := demo.Load(context.Background(), prompts.NewStore(f.pool), retrieval.NewStore(f.pool), f.models.Has)
	if err != nil {
		b.Fatal(err)
	}
	personas, _ := prompts.NewStore(f.pool).Personas(context.Background(), sum.Project.ID)
	path := fmt.Sprintf("/api/v1/personas/%d/versions/1/try", personas[1].ID)
	var rec latency.Recorder
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res := f.admin.request(b, "POST", path, map[string]any{"message": "个人邮寄进境物品的免税额是多少？"})
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
		rec.Since(start)
	}
	rec.Report(b, "")
}
