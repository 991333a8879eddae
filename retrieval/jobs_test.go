package retrieval_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/retrieval"
)

// embeddingsServer is an OpenAI-compatible /v1/embeddings endpoint that can be taken down,
// and counts how many times each text was embedded.
type embeddingsServer struct {
	*httptest.Server
	down  atomic.Bool
	dim   int
	mu    sync.Mutex
	count map[string]int
}

func newEmbeddingsServer(t *testing.T, dim int) *embeddingsServer {
	es := &embeddingsServer{dim: dim, count: map[string]int{}}
	offline := retrieval.NewNgramEmbedder(dim)
	es.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" {
			http.NotFound(w, r)
			return
		}
		if es.down.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"model is loading","type":"server_error"}}`))
			return
		}
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		es.mu.Lock()
		for i, text := range req.Input {
			es.count[text]++
			data = append(data, item{Object: "embedding", Index: i, Embedding: offline.Vector(text)})
		}
		es.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
			"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	t.Cleanup(es.Close)
	return es
}

func (es *embeddingsServer) embedded() (texts, calls int) {
	es.mu.Lock()
	defer es.mu.Unlock()
	for _, n := range es.count {
		texts++
		calls += n
	}
	return texts, calls
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEmbeddingJobsPauseWhileTheEndpointIsDownAndLoseNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	es := newEmbeddingsServer(t, 16)
	remote, err := retrieval.NewOpenAIEmbedder(retrieval.OpenAIEmbedderConfig{BaseURL: es.URL + "/v1", Model: "test-embed", Dimension: 16, BatchSize: 3})
	require.NoError(t, err)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	s := retrieval.NewStore(pool, retrieval.NewEmbedders(remote), queue)
	runner, err := jobs.NewRunner(pool, nil, retrieval.Jobs(s, func(w *retrieval.EmbedWorker) {
		w.Backoff = func(int) time.Duration { return 200 * time.Millisecond }
	}))
	require.NoError(t, err)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "remote", Embedder: "test-embed"})
	assert.Equal(t, 16, c.Dimension)

	es.down.Store(true)
	require.NoError(t, s.CheckEmbedder(ctx, c), "an endpoint that is down does not stop an import")
	total := 0
	for _, d := range knowledge {
		res, err := s.Ingest(ctx, c, d)
		require.NoError(t, err)
		assert.True(t, res.Queued)
		total += res.Chunks
	}
	require.NoError(t, runner.Start(ctx))
	t.Cleanup(func() { runner.Stop(context.Background()) })

	waitFor(t, "the corpus to say embedding is paused", func() bool {
		got, err := s.CorpusStatus(ctx, c.ID)
		return err == nil && got.EmbeddingError != ""
	})
	got, err := s.CorpusStatus(ctx, c.ID)
	require.NoError(t, err)
	assert.Contains(t, got.EmbeddingError, "embedding paused:")
	assert.Contains(t, got.EmbeddingError, "503")
	assert.Equal(t, 0, got.EmbeddedCount)

	es.down.Store(false)
	waitFor(t, "every chunk to be embedded", func() bool {
		got, err := s.CorpusStatus(ctx, c.ID)
		return err == nil && got.EmbeddedCount == total && got.EmbeddingError == ""
	})
	texts, calls := es.embedded()
	assert.Equal(t, total, texts, "every chunk reached the endpoint (the dimension check ran while it was down)")
	assert.Equal(t, texts, calls, "no chunk was embedded twice")

	hits, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "宠物狗入境", K: 3})
	require.NoError(t, err)
	require.NotEmpty(t, hits)
	assert.Equal(t, "pets", hits[0].Slug)
	assert.NotNil(t, hits[0].VectorRank, "the query was embedded by the endpoint too")
}

func TestEmbedderDimensionMismatchIsRefusedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	es := newEmbeddingsServer(t, 8) // the endpoint returns 8 dimensions, the config says 16
	remote, err := retrieval.NewOpenAIEmbedder(retrieval.OpenAIEmbedderConfig{BaseURL: es.URL + "/v1", Model: "liar", Dimension: 16})
	require.NoError(t, err)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	s := retrieval.NewStore(pool, retrieval.NewEmbedders(remote), queue)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "liar", Embedder: "liar"})

	err = s.CheckEmbedder(ctx, c)
	assert.Equal(t, errs.Unprocessable, errs.KindOf(err))
	assert.ErrorContains(t, err, "returned 8 dimensions, but the corpus is fixed at 16")
	var docs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs))
	assert.Zero(t, docs)
}

func TestNgramEmbedder(t *testing.T) {
	t.Parallel()
	e := retrieval.NewNgramEmbedder(256)
	a := e.Vector("个人邮寄进境物品免征额是50元")
	assert.Equal(t, a, e.Vector("个人邮寄进境物品免征额是50元"), "deterministic")
	var norm float64
	for _, x := range a {
		norm += float64(x) * float64(x)
	}
	assert.InDelta(t, 1, norm, 1e-5, "L2-normalised")
	cos := func(x, y []float32) float64 {
		var s float64
		for i := range x {
			s += float64(x[i]) * float64(y[i])
		}
		return s
	}
	near := e.Vector("邮寄物品的免征额")
	far := e.Vector("Drones must be declared when batteries exceed 160 Wh")
	assert.Greater(t, cos(a, near), cos(a, far)+0.2, "related Chinese text is closer than unrelated English")
	assert.Equal(t, make([]float32, 256), e.Vector("。！"), "no grams, no direction")
}
