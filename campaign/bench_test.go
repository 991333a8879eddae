package campaign_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/retrieval"
)

// benchSize reads a size from the environment: the default keeps `make bench` and a smoke
// run quick; the targets are given in docs/campaigns.md.
func benchSize(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, name)
		return n
	}
	return def
}

// BenchmarkNext claims items from a campaign of many ready items by many concurrent
// trainers, and reports the claim latency. Each round, every trainer claims one item at the
// same moment; the claims are then skipped (untimed) so the cap never binds.
func BenchmarkNext(b *testing.B) {
	items := benchSize(b, "MENTOR_BENCH_CAMPAIGN_ITEMS", 2000)
	trainers := benchSize(b, "MENTOR_BENCH_CAMPAIGN_TRAINERS", 50)
	f := setup(b)
	ctx := context.Background()
	c := f.campaign(b, campaign.Input{K: 3, SkipLimit: 100})
	// Items with turns in bulk: a turn per item, no candidates (claiming never reads them).
	_, err := f.pool.Exec(ctx, `WITH conv AS (INSERT INTO conversations (project_id, persona_id, created_by, locale)
			SELECT $1, $2, $3, 'zh-CN' FROM generate_series(1, $5) RETURNING id),
		msg AS (INSERT INTO messages (conversation_id, role, author, author_id, content)
			SELECT id, 'user', 'human', $3, 'q' FROM conv RETURNING id, conversation_id),
		tr AS (INSERT INTO turns (conversation_id, user_message_id, created_by) SELECT conversation_id, id, $3 FROM msg RETURNING id)
		INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation)
		SELECT $4, 'q' || id, 'q' || id, id, 'ready' FROM tr`, f.project.ID, f.persona.ID, f.admin, c.ID, items)
	require.NoError(b, err)
	_, err = f.pool.Exec(ctx, `UPDATE campaigns SET state = 'open' WHERE id = $1`, c.ID)
	require.NoError(b, err)
	_, err = f.pool.Exec(ctx, `ANALYZE campaign_items`)
	require.NoError(b, err)
	ts := f.trainers(b, "bench", trainers)
	var rec latency.Recorder
	for b.Loop() {
		var wg sync.WaitGroup
		for _, tr := range ts {
			wg.Go(func() {
				start := time.Now()
				claim, err := f.store.Next(ctx, c.ID, tr)
				rec.Since(start)
				if err != nil {
					b.Error(err)
					return
				}
				if err := f.store.Skip(ctx, claim.ID, tr, campaign.SkipUnclear); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	rec.Report(b, "claim-")
	b.ReportMetric(float64(items), "items")
	b.ReportMetric(float64(trainers), "trainers")
}

// BenchmarkPregeneration generates a campaign's items at N = 4 candidates against a fast
// upstream and reports items per second.
func BenchmarkPregeneration(b *testing.B) {
	n := benchSize(b, "MENTOR_BENCH_CAMPAIGN_GEN_ITEMS", 200)
	ctx := context.Background()
	up := newFlakyUpstream(b, 0)
	modelsFile := filepath.Join(b.TempDir(), "models.yaml")
	require.NoError(b, os.WriteFile(modelsFile, []byte("endpoints:\n  - name: fast\n    base_url: "+up.srv.URL+"/v1\n    max_concurrent: 64\n    models:\n      - name: up\n"), 0o600))
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{ModelsFile: modelsFile, Getenv: func(string) string { return "" }})
	require.NoError(b, err)
	f := setupWith(b, models)
	worker := campaign.NewGenerateWorker(f.store, f.prompts, generation.New(retrieval.NewStore(f.pool, nil, f.queue), models, nil), models)
	workers := river.NewWorkers()
	require.NoError(b, river.AddWorkerSafely(workers, worker))
	runner, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{Workers: workers,
		Queues: map[string]river.QueueConfig{campaign.GenerateQueue: {MaxWorkers: 16}}, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond})
	require.NoError(b, err)
	done, cancel := runner.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	require.NoError(b, runner.Start(ctx))
	defer func() { _ = runner.Stop(context.Background()) }()
	plan := make([]campaign.PlanEntry, 4)
	for i := range plan {
		temp := float32(i) / 4
		plan[i] = campaign.PlanEntry{PromptVersionID: f.version.ID, Model: "up", Temperature: &temp}
	}
	var elapsed time.Duration
	var generated int
	round := 0
	for b.Loop() {
		round++
		c := f.campaign(b, campaign.Input{Name: fmt.Sprintf("bench %d", round), K: 1, Plan: plan})
		batch := make([]campaign.ItemInput, n)
		for i := range batch {
			batch[i] = campaign.ItemInput{Question: fmt.Sprintf("第 %d 轮第 %d 个问题", round, i)}
		}
		_, err := f.store.AddItems(ctx, c.ID, batch)
		require.NoError(b, err)
		start := time.Now()
		_, err = f.store.SetState(ctx, c.ID, campaign.Open)
		require.NoError(b, err)
		for range n {
			<-done
		}
		elapsed += time.Since(start)
		generated += n
	}
	b.ReportMetric(float64(generated)/elapsed.Seconds(), "items/s")
}
