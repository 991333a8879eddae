package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
)

// TestDatabaseDownIs503WithRetryAfter takes PostgreSQL away from the server (through the
// test proxy, so other tests keep theirs): signing in, reading and judging answer 503
// unavailable with Retry-After, never a 500. Once it is back, the same requests work.
func TestDatabaseDownIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	j := newJudgeable(t, options{viaProxy: true})
	turn, c := j.turn(t, 2)
	ctx := context.Background()
	secret, _, err := j.auth.CreateToken(ctx, mustUserID(t, j.fixture, "trainer"), "script", []auth.Scope{auth.ScopeRead})
	require.NoError(t, err)
	token := j.withToken(secret)
	persona := fmt.Sprintf("/api/v1/personas/%d", j.persona.ID)
	judgments := fmt.Sprintf("/api/v1/turns/%d/judgments", turn)

	tests := []struct {
		name         string
		as           *client
		method, path string
		body         func() any
		ok           int
	}{
		{"sign in", j.anonymous(), "POST", "/api/v1/session", func() any { return map[string]any{"login": "trainer", "password": testPassword} }, http.StatusOK},
		{"read a persona", j.trainer, "GET", persona, func() any { return nil }, http.StatusOK},
		{"read a persona with a token", token, "GET", persona, func() any { return nil }, http.StatusOK},
		{"judge a turn", j.trainer, "POST", judgments, func() any { return minimalJudgment("down-then-up", c) }, http.StatusCreated},
	}
	j.proxy.Down()
	for _, tt := range tests {
		t.Run("down: "+tt.name, func(t *testing.T) {
			res := tt.as.request(t, tt.method, tt.path, tt.body())
			res.Body.Close()
			assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
			assert.Equal(t, "5", res.Header.Get("Retry-After"))
			status, body := tt.as.call(t, tt.method, tt.path, tt.body())
			code, _, msg := errorOf(body)
			assert.Equal(t, http.StatusServiceUnavailable, status)
			assert.Equal(t, "unavailable", code)
			assert.Contains(t, msg, "database")
		})
	}

	j.proxy.Up()
	for _, tt := range tests {
		t.Run("up again: "+tt.name, func(t *testing.T) {
			status, body := untilServed(t, j.fixture, func() (int, map[string]any) { return tt.as.call(t, tt.method, tt.path, tt.body()) })
			assert.Equal(t, tt.ok, status, body)
		})
	}
}

// untilServed sends a request again while it answers 503, as a client honouring
// Retry-After would (without the wait: the database is already back). A pool may still
// hold connections that broke while the database was away; each fails one request and is
// dropped, so there are at most as many 503s as the pool has connections.
func untilServed(t *testing.T, f fixture, send func() (int, map[string]any)) (int, map[string]any) {
	t.Helper()
	for range f.pool.Config().MaxConns + 1 {
		status, body := send()
		if status != http.StatusServiceUnavailable {
			return status, body
		}
		code, _, _ := errorOf(body)
		require.Equal(t, "unavailable", code)
	}
	t.Fatalf("still unavailable after %d tries with the database back", f.pool.Config().MaxConns+1)
	return 0, nil
}
