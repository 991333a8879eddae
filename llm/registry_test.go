package llm_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/llm"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestModelsFileErrorsNameFileLineAndProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"not YAML", "endpoints: [\n  - name: x\n", []string{"line 1", "did not find expected"}},
		{"unknown field", "endpoints:\n  - name: a\n    base_url: http://x\n    modles: []\n", []string{"line 4", "field modles not found"}},
		{"no endpoints", "endpoints: []\n", []string{"line 1", "no endpoints"}},
		{"bad url", "endpoints:\n  - name: a\n    base_url: ftp://x\n    models: [{name: m}]\n", []string{"line 3", "base_url: must be an http(s) URL"}},
		{"key instead of variable", "endpoints:\n  - name: a\n    base_url: http://x\n    api_key_env: sk-123\n    models: [{name: m}]\n", []string{"line 4", "must name an environment variable"}},
		{"no models", "endpoints:\n  - name: a\n    base_url: http://x\n", []string{"line 2", "no models listed"}},
		{"temperature out of range", "endpoints:\n  - name: a\n    base_url: http://x\n    models:\n      - name: m\n        temperature: 3\n", []string{"line 6", "temperature: must be between 0 and 2, got 3"}},
		{"duplicate model", "endpoints:\n  - name: a\n    base_url: http://x\n    models:\n      - name: m\n      - name: m\n", []string{"line 6", `"m" is already taken`}},
		{"duplicate endpoint", "endpoints:\n  - name: a\n    base_url: http://x\n    models: [{name: m}]\n  - name: a\n    base_url: http://y\n    models: [{name: n}]\n", []string{"line 5", `endpoints[1].name: "a" is already taken`}},
		{"baseline name taken", "endpoints:\n  - name: a\n    base_url: http://x\n    models:\n      - name: baseline-extractive\n", []string{"line 5", "already taken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tt.body)
			_, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: path})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "models file "+path)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestRegistryFromFileAndEnvironment(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if strings.HasSuffix(r.URL.Path, "/models") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"id":"qwen-plus","object":"model"},{"id":"qwen-max","object":"model"}]}`))
			return
		}
		streamHeaders(w)
		write(w, chunk("pong", "", "stop"), "data: [DONE]\n\n")
	})
	path := writeFile(t, `endpoints:
  - name: deepseek
    base_url: `+u.URL+`/v1
    api_key_env: DEEPSEEK_API_KEY
    models:
      - name: deepseek-chat
        temperature: 0.7
  - name: local-vllm
    base_url: `+u.URL+`/v1
    requests_per_minute: 600
    models:
      - name: local-qwen
        remote_name: Qwen/Qwen2.5-7B-Instruct
`)
	env := map[string]string{"OPENAI_BASE_URL": u.URL + "/v1", "OPENAI_API_KEY": "sk-live"}
	reg, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: path, Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)

	var names []string
	for _, m := range reg.Models() {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{llm.BaselineThorough, llm.BaselineBrief, "deepseek-chat", "local-qwen", "qwen-plus", "qwen-max"}, names,
		"baseline first, then the file, then models discovered from OPENAI_BASE_URL")

	// A missing key makes that endpoint's models unavailable, with the reason; the rest work.
	_, _, err = reg.Model("deepseek-chat")
	require.Error(t, err)
	assert.Equal(t, errs.Unavailable, errs.KindOf(err))
	assert.Contains(t, errs.Message(err), "environment variable DEEPSEEK_API_KEY is not set")

	m, p, err := reg.Model("local-qwen")
	require.NoError(t, err)
	assert.Equal(t, "Qwen/Qwen2.5-7B-Instruct", m.RemoteName)
	var got strings.Builder
	_, err = p.Stream(context.Background(), request, func(d llm.Delta) { got.WriteString(d.Content) })
	require.NoError(t, err)
	assert.Equal(t, "pong", got.String())
	assert.Equal(t, "Qwen/Qwen2.5-7B-Instruct", u.lastBody.Load().(map[string]any)["model"])

	_, _, err = reg.Model("gpt-9")
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	assert.True(t, reg.Has("qwen-max"))
	assert.False(t, reg.Has("gpt-9"))

	health := map[string]llm.Health{}
	for _, h := range reg.Health(context.Background()) {
		health[h.Model] = h
	}
	assert.True(t, health["local-qwen"].Available)
	assert.True(t, health[llm.BaselineThorough].Available)
	assert.False(t, health["deepseek-chat"].Available)
	assert.Contains(t, health["deepseek-chat"].Reason, "DEEPSEEK_API_KEY")
}

func TestRegistryHealthReportsADownEndpoint(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>upstream down</html>"))
	})
	env := map[string]string{"OPENAI_BASE_URL": u.URL, "MENTOR_OPENAI_MODELS": "a, b"}
	reg, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	for _, h := range reg.Health(context.Background()) {
		if h.Model == "a" || h.Model == "b" {
			assert.False(t, h.Available)
			assert.Contains(t, h.Reason, "upstream down")
		}
	}
	assert.Equal(t, 1, int(u.calls.Load()), "one probe per endpoint, cached")
}

func TestRegistryDiscoveryFailureNamesTheVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
	_, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{Getenv: func(k string) string { return env[k] }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "OPENAI_BASE_URL=http://127.0.0.1:1/v1")
	assert.Contains(t, err.Error(), "MENTOR_OPENAI_MODELS")
}

// TestExampleModelsFileLoads keeps the example in docs/ honest.
func TestExampleModelsFileLoads(t *testing.T) {
	t.Parallel()
	reg, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: "../docs/models.example.yaml",
		Getenv: func(k string) string { return map[string]string{"DEEPSEEK_API_KEY": "sk-x"}[k] }})
	require.NoError(t, err)
	assert.True(t, reg.Has("deepseek-reasoner"))
	assert.True(t, reg.Has("qwen2.5:7b"))
	_, _, err = reg.Model("qwen-plus")
	assert.Contains(t, errs.Message(err), "DASHSCOPE_API_KEY is not set")
	_, _, err = reg.Model("deepseek-chat")
	assert.NoError(t, err)
}

// TestRegistryEnforcesMaxConcurrent holds the first stream open at the upstream and checks
// that a second one on the same model does not reach the upstream until the first ends.
func TestRegistryEnforcesMaxConcurrent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, call int) {
		streamHeaders(w)
		if call == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		write(w, chunk("ok", "", "stop"), "data: [DONE]\n\n")
	})
	path := writeFile(t, "endpoints:\n  - name: one-at-a-time\n    base_url: "+u.URL+"\n    max_concurrent: 1\n    models:\n      - name: m\n")
	reg, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: path})
	require.NoError(t, err)
	_, p, err := reg.Model("m")
	require.NoError(t, err)

	first, second := make(chan error, 1), make(chan error, 1)
	go func() { _, err := p.Stream(context.Background(), request, func(llm.Delta) {}); first <- err }()
	for u.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() { _, err := p.Stream(context.Background(), request, func(llm.Delta) {}); second <- err }()
	time.Sleep(100 * time.Millisecond) // give the second stream every chance to get through
	assert.EqualValues(t, 1, u.calls.Load(), "the second stream waits for the first")
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	assert.EqualValues(t, 2, u.calls.Load())

	// A waiting stream gives up when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := p.Stream(ctx, request, func(llm.Delta) {})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, llm.Cancelled, res.Status)
}

// TestRegistryKeepsConnectionsToAnEndpoint streams two waves of 8 at once to one endpoint
// (max_concurrent 8): the second wave reuses the first's connections, so the endpoint sees 8
// connections in all (give or take a race, below). Go's default transport keeps 2 idle, and
// the second wave dialled 6 more.
func TestRegistryKeepsConnectionsToAnEndpoint(t *testing.T) {
	t.Parallel()
	var dialled atomic.Int32
	var arrived atomic.Pointer[sync.WaitGroup] // the wave's requests, each waiting for all 8
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wave := arrived.Load()
		wave.Done()
		wave.Wait()
		streamHeaders(w)
		write(w, chunk("好", "", "stop"), "data: [DONE]\n\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	path := writeFile(t, "endpoints:\n  - name: pooled\n    base_url: "+srv.URL+"\n    max_concurrent: 8\n    models:\n      - name: m\n")
	reg, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: path})
	require.NoError(t, err)
	_, p, err := reg.Model("m")
	require.NoError(t, err)
	for wave := range 2 {
		// All 8 streams of a wave are open at the upstream at once: none is answered until
		// all 8 have arrived, so each needs a connection of its own.
		var all sync.WaitGroup
		all.Add(8)
		arrived.Store(&all)
		var g errgroup.Group
		for range 8 {
			g.Go(func() error {
				_, err := p.Stream(context.Background(), request, func(llm.Delta) {})
				return err
			})
		}
		require.NoError(t, g.Wait(), "wave %d", wave)
	}
	// A connection goes back to the idle pool just after its stream's end is read, so a
	// second-wave stream may now and then race it and dial one more; keeping only 2, the
	// second wave dials at least 6.
	assert.LessOrEqual(t, dialled.Load(), int32(10), "the second wave reuses the first's connections")
}
