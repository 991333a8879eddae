package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdempotencyKeyBelongsToOneTurn replays a stored judgment's key and body at another
// turn: that is a different judgment, so 409, never the first turn's result.
func TestIdempotencyKeyBelongsToOneTurn(t *testing.T) {
	t.Parallel()
	j := newJudgeable(t, options{})
	first, c := j.turn(t, 2)
	second, _ := j.turn(t, 2)
	sub := minimalJudgment("one-key-one-turn", c)

	status, stored := j.trainer.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", first), sub)
	require.Equal(t, http.StatusCreated, status, stored)

	status, body := j.trainer.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", second), sub)
	code, _, msg := errorOf(body)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "conflict", code)
	assert.Contains(t, msg, "another turn")
	assert.NotContains(t, body, "judgment_id", "the first turn's judgment is not handed out as this one's")
	var n int
	require.NoError(t, j.pool.QueryRow(context.Background(), `SELECT count(*) FROM judgments WHERE turn_id = $1`, second).Scan(&n))
	assert.Zero(t, n)

	// At its own turn the key still replays.
	status, again := j.trainer.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", first), sub)
	assert.Equal(t, http.StatusOK, status, again)
	assert.Equal(t, stored["judgment_id"], again["judgment_id"])
}

// TestIdempotencyTreatsEmptyAndMissingAlike retries one judgment, spelling "no flags" and
// "no ratings" in each way a client might: each is the same submission, replayed. A real
// change under the same key is still a conflict.
func TestIdempotencyTreatsEmptyAndMissingAlike(t *testing.T) {
	t.Parallel()
	j := newJudgeable(t, options{})
	turn, c := j.turn(t, 2)
	path := fmt.Sprintf("/api/v1/turns/%d/judgments", turn)
	c0 := fmt.Sprint(c[0])
	with := func(extra map[string]any) map[string]any {
		b := minimalJudgment("empty-is-missing", c)
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	status, stored := j.trainer.call(t, "POST", path, with(nil))
	require.Equal(t, http.StatusCreated, status, stored)
	tests := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"flags {}", with(map[string]any{"flags": map[string]any{}}), http.StatusOK},
		{"flags null", with(map[string]any{"flags": nil}), http.StatusOK},
		{"an empty list of flags", with(map[string]any{"flags": map[string]any{c0: []string{}}}), http.StatusOK},
		{"ratings {}", with(map[string]any{"ratings": map[string]any{}, "flags": map[string]any{}}), http.StatusOK},
		{"a candidate with no ratings", with(map[string]any{"ratings": map[string]any{c0: map[string]int{}}}), http.StatusOK},
		{"a flag is a change", with(map[string]any{"flags": map[string]any{c0: []string{"unsafe"}}}), http.StatusConflict},
		{"a comment is a change", with(map[string]any{"comment": "改了"}), http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := j.trainer.call(t, "POST", path, tt.body)
			require.Equal(t, tt.status, status, body)
			if tt.status == http.StatusOK {
				assert.Equal(t, true, body["replayed"])
				assert.Equal(t, stored["judgment_id"], body["judgment_id"])
			}
		})
	}
	var n int
	var flags string
	require.NoError(t, j.pool.QueryRow(context.Background(), `SELECT count(*), min(flags::text) FROM judgments WHERE turn_id = $1`, turn).Scan(&n, &flags))
	assert.Equal(t, 1, n)
	assert.Equal(t, "{}", flags, "no flags are stored as an empty object, never as JSON null")
}
