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

// measureParallel sends requests from GOMAXPROCS goroutines for the benchmark's duration and
// reports their latency percentiles; every answer must be 200.
func measureParallel(b *testing.B, send func() (*http.Response, error)) {
	var rec latency.Recorder
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res, err := send()
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

// demoPersonas loads the demo project and returns its personas.
func demoPersonas(b *testing.B, f fixture) []prompts.Persona {
	b.Helper()
	ctx := context.Background()
	sum, err := demo.Load(ctx, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	if err != nil {
		b.Fatal(err)
	}
	personas, err := prompts.NewStore(f.pool).Personas(ctx, sum.Project.ID)
	if err != nil {
		b.Fatal(err)
	}
	return personas
}

// BenchmarkReadyz measures a full HTTP round trip through the middleware stack that also
// queries PostgreSQL: the floor under every API call that touches the database.
func BenchmarkReadyz(b *testing.B) {
	f := setupBench(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	measureParallel(b, func() (*http.Response, error) { return client.Get(f.srv.URL + "/readyz") })
}

// BenchmarkAuthorizedRead measures an API read through the whole access path: session
// lookup, role, persona resolution, policy, handler (persona, rubric and versions).
func BenchmarkAuthorizedRead(b *testing.B) {
	f := setupBench(b)
	path := fmt.Sprintf("/api/v1/personas/%d", demoPersonas(b, f)[0].ID)
	measureParallel(b, func() (*http.Response, error) { return f.admin.request(b, "GET", path, nil), nil })
}

// BenchmarkTryBaseline measures one whole try: retrieval over a demo corpus (56 documents),
// template rendering, the offline baseline streamed without pacing, markdown rendering.
func BenchmarkTryBaseline(b *testing.B) {
	f := setupBench(b)
	path := fmt.Sprintf("/api/v1/personas/%d/versions/1/try", demoPersonas(b, f)[1].ID)
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
