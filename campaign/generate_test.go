package campaign_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// flakyUpstream is an OpenAI-compatible SSE endpoint whose first failures requests break off
// after one piece (no finish reason: the stream counts as interrupted, so only the job's
// retry can recover it), and which answers whole from then on. It records the most requests
// it saw at once.
type flakyUpstream struct {
	srv            *httptest.Server
	mu             sync.Mutex
	failures, seen int
	inFlight, most int
}

func newFlakyUpstream(t testing.TB, failures int) *flakyUpstream {
	u := &flakyUpstream{failures: failures}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		u.mu.Lock()
		u.seen++
		fail := u.seen <= u.failures
		u.inFlight++
		u.most = max(u.most, u.inFlight)
		u.mu.Unlock()
		// A request stops counting before the bytes that end it are written: once the client
		// has read [DONE] it frees its slot and may send the next request before this handler
		// returns, which counted as 3 at once under max_concurrent 2 on a CI run. Counted so,
		// the server's in-flight time lies inside the client's slot, and the check still
		// fails if more than max_concurrent streams overlap.
		var once sync.Once
		finished := func() { once.Do(func() { u.mu.Lock(); u.inFlight--; u.mu.Unlock() }) }
		defer finished()
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(s string) {
			b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": s}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		chunk("根据规定，")
		if fail {
			return // cut off: no finish reason
		}
		chunk(fmt.Sprintf("个人物品免税额为 50 元（%v）。", body["temperature"]))
		finished()
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// TestGenerationRecoversFromAFailingUpstream: against an upstream that fails and then
// recovers, every item ends ready, with exactly its plan's candidates and no duplicates, and
// the endpoint's concurrency limit is respected.
func TestGenerationRecoversFromAFailingUpstream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const items = 12
	up := newFlakyUpstream(t, 10)
	modelsFile := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(modelsFile, []byte("endpoints:\n  - name: flaky\n    base_url: "+up.srv.URL+"/v1\n    max_concurrent: 2\n    models:\n      - name: up\n"), 0o600))
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{ModelsFile: modelsFile, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	f := setupWith(t, models)

	worker := campaign.NewGenerateWorker(f.store, f.prompts, generation.New(retrieval.NewStore(f.pool, nil, f.queue), models, nil), models)
	worker.Backoff = func(int) time.Duration { return 0 }
	workers := river.NewWorkers()
	require.NoError(t, river.AddWorkerSafely(workers, worker))
	runner, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{Workers: workers, TestOnly: true,
		Queues: map[string]river.QueueConfig{campaign.GenerateQueue: {MaxWorkers: 4}}, FetchCooldown: 20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	done, cancel := runner.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	require.NoError(t, runner.Start(ctx))
	t.Cleanup(func() { _ = runner.Stop(context.Background()) })

	hot := float32(0.9)
	c := f.campaign(t, campaign.Input{K: 1, Plan: []campaign.PlanEntry{{PromptVersionID: f.version.ID, Model: "up"},
		{PromptVersionID: f.version.ID, Model: "up", Temperature: &hot}}})
	batch := make([]campaign.ItemInput, items)
	for i := range batch {
		batch[i] = campaign.ItemInput{Question: fmt.Sprintf("问题 %d：行李里的茶叶要申报吗？", i)}
	}
	// One item continues a conversation: its turn follows the prior messages.
	batch[0].Prior = []campaign.PriorMessage{{Role: "user", Content: "我下周去香港。"}, {Role: "assistant", Content: "好的，请问有什么想了解的？"}}
	_, err = f.store.AddItems(ctx, c.ID, batch)
	require.NoError(t, err)
	_, err = f.store.SetState(ctx, c.ID, campaign.Open) // open while generation continues
	require.NoError(t, err)

	timeout := time.After(60 * time.Second)
	for n := 0; n < items; {
		select {
		case <-done:
			n++
		case <-timeout:
			p, _ := f.store.Progress(ctx, c.ID)
			t.Fatalf("only %d of %d items generated: %+v", n, items, p)
		}
	}
	p, err := f.store.Progress(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, campaign.Progress{Ready: items}, p)
	var turns, candidates, perTurnWrong, conversations int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(DISTINCT i.turn_id), count(cd.id),
			(SELECT count(*) FROM (SELECT turn_id FROM candidates GROUP BY turn_id HAVING count(*) <> 2) x),
			(SELECT count(*) FROM conversations)
		FROM campaign_items i JOIN candidates cd ON cd.turn_id = i.turn_id WHERE i.campaign_id = $1 AND cd.status = 'complete'`, c.ID).
		Scan(&turns, &candidates, &perTurnWrong, &conversations))
	assert.Equal(t, items, turns)
	assert.Equal(t, 2*items, candidates)
	assert.Zero(t, perTurnWrong, "a turn with other than the plan's 2 candidates")
	assert.Equal(t, items, conversations, "failed attempts left no conversations behind")
	// The item with a prior: user, assistant, the question, each the parent of the next, and
	// the two candidates replies to the question, all in the turn's conversation.
	rows, err := f.pool.Query(ctx, `WITH RECURSIVE p AS (
			SELECT m.id, m.parent_id, m.role, m.content, m.conversation_id, 0 AS depth FROM campaign_items i
				JOIN turns t ON t.id = i.turn_id JOIN messages m ON m.id = t.user_message_id
			WHERE i.campaign_id = $1 AND i.question = $2
			UNION ALL SELECT m.id, m.parent_id, m.role, m.content, m.conversation_id, p.depth + 1 FROM messages m JOIN p ON m.id = p.parent_id
				AND m.conversation_id = p.conversation_id)
		SELECT role || ':' || content FROM p ORDER BY depth DESC`, c.ID, batch[0].Question)
	require.NoError(t, err)
	path, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"user:我下周去香港。", "assistant:好的，请问有什么想了解的？", "user:" + batch[0].Question}, path)
	var replies int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM campaign_items i JOIN turns t ON t.id = i.turn_id
		JOIN candidates cd ON cd.turn_id = t.id JOIN messages m ON m.id = cd.message_id
		WHERE i.campaign_id = $1 AND i.question = $2 AND m.parent_id = t.user_message_id AND m.conversation_id = t.conversation_id
			AND m.content LIKE '根据规定%'`, c.ID, batch[0].Question).Scan(&replies))
	assert.Equal(t, 2, replies, "each candidate is a reply to the question, with its text")
	up.mu.Lock()
	defer up.mu.Unlock()
	assert.Greater(t, up.seen, 2*items, "the upstream failed some requests")
	assert.LessOrEqual(t, up.most, 2, "the endpoint's max_concurrent")

	// Trainers get only ready items, and the candidates are already complete.
	trainer := f.trainers(t, "gen", 1)[0]
	claim, err := f.store.Next(ctx, c.ID, trainer)
	require.NoError(t, err)
	turn, err := f.live.Turn(ctx, claim.TurnID)
	require.NoError(t, err)
	for _, cand := range turn.Candidates {
		assert.Equal(t, rlhf.Status("complete"), cand.Status)
		assert.True(t, strings.HasPrefix(cand.Content, "根据规定"))
	}
}

// TestFailedItemsCanBeRegenerated: an item whose every attempt fails is failed, with its
// error shown, and "regenerate failed" brings it back.
func TestFailedItemsCanBeRegenerated(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1})
	_, err := f.store.AddItems(ctx, c.ID, []campaign.ItemInput{{Question: "能带多少现金出境？"}})
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE campaign_items SET generation = 'failed', generation_error = 'upstream down' WHERE campaign_id = $1`, c.ID)
	require.NoError(t, err)
	failed, err := f.store.Failed(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, failed, 1)
	assert.Equal(t, "upstream down", failed[0].Error)
	n, err := f.store.Regenerate(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	p, err := f.store.Progress(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Generating)
	var jobs int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'campaign_generate'`).Scan(&jobs))
	assert.Equal(t, 1, jobs)
}
