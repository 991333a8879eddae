package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenLoopSendsEveryDueRequest: the old generator's ticker dropped ticks whenever the
// benchmark fell behind, so the rate it claimed was never offered. Run's open loop sends
// every request that falls due in the duration, late or not: the count is the schedule's,
// whatever the machine's speed. Each gets its own {{seq}}, and the headers: the phase's, and
// its request's own over them.
func TestOpenLoopSendsEveryDueRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	keys := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Key string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		keys[body.Key+"|"+r.URL.Path+"|"+r.Header.Get("X-Test")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Status: http.StatusCreated, Header: map[string]string{"X-Test": "h"},
		Requests: []Request{{Method: "POST", Path: "/a/{{seq}}", Body: json.RawMessage(`{"key": "k-{{seq}}"}`)},
			{Method: "POST", Path: "/b/{{seq}}", Body: json.RawMessage(`{"key": "k-{{seq}}"}`), Header: map[string]string{"X-Test": "own"}}},
		Rate: 400, Duration: 100 * time.Millisecond, SeqStart: 7})
	require.NoError(t, err)
	assert.EqualValues(t, 40, res.Sent, "due at 0, 2.5, … 97.5 ms")
	assert.Zero(t, res.Failed, res.FirstError)
	assert.Len(t, keys, 40, "every request its own sequence number")
	assert.True(t, keys["k-7|/a/7|h"], "numbers start at SeqStart, in the path and the body")
	assert.True(t, keys["k-46|/b/46|own"], "a request's own header over the phase's")
	assert.True(t, keys["k-45|/a/45|h"])
}

// TestRunCountsWrongAnswers: a request answered with another status is a failure, named.
func TestRunCountsWrongAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusConflict)
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Status: http.StatusOK,
		Requests: []Request{{Method: "GET", Path: "/x"}}, Concurrency: 2, Duration: 20 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, res.Sent, res.Failed)
	assert.Contains(t, res.FirstError, "status 409")

	_, err = Run(context.Background(), Config{BaseURL: srv.URL, Requests: []Request{{Method: "GET", Path: "/x"}},
		Concurrency: 2, Rate: 5, Duration: time.Second})
	assert.Error(t, err, "a concurrency and a rate at once is refused")
}
