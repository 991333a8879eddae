package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// judgedTurn runs a generate of four baseline candidates to completion and returns the turn
// id and its candidate ids in order.
func judgedTurn(t *testing.T, w liveWorld) (int64, []int64) {
	t.Helper()
	s := w.socket(t, w.admin)
	s.send(w.generate(
		map[string]any{"prompt_version": 1, "model": "baseline-extractive"},
		map[string]any{"prompt_version": 2, "model": "baseline-extractive-brief"},
		map[string]any{"prompt_version": 1, "model": "baseline-extractive-brief"},
		map[string]any{"prompt_version": 2, "model": "steady"},
	))
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	s.until(allDone(4))
	var ids []int64
	for _, c := range turn["candidates"].([]any) {
		ids = append(ids, id(c.(map[string]any)["candidate_id"]))
	}
	return id(turn["turn_id"]), ids
}

func key(s string) string { return "judgment-" + s }

func TestJudgmentStoresPairsOnceAndKeepsRevisions(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	turn, c := judgedTurn(t, w)
	path := fmt.Sprintf("/api/v1/turns/%d/judgments", turn)
	sub := map[string]any{
		"idempotency_key": key("a1"),
		"ranking":         [][]int64{{c[0]}, {c[1], c[2]}, {c[3]}},
		"ratings": map[string]any{
			fmt.Sprint(c[0]): map[string]int{"accuracy": 5, "groundedness": 5},
			fmt.Sprint(c[3]): map[string]int{"accuracy": 1},
		},
		"flags":         map[string]any{fmt.Sprint(c[3]): []string{"hallucination"}},
		"comment":       "第四个编造了数字",
		"edit":          map[string]any{"candidate_id": c[1], "content": "应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]"},
		"gold":          map[string]any{"content": "个人邮寄进境物品，税额50元及以下免征。"},
		"continue_from": map[string]any{"edit": true},
		"time_spent_ms": 42000,
	}
	status, res := w.admin.call(t, "POST", path, sub)
	require.Equal(t, http.StatusCreated, status, res)
	assert.EqualValues(t, 1, res["revision"])
	assert.EqualValues(t, 10, res["pairs"], "5 ranking pairs (no pair inside the tie), 1 edit, 4 gold")
	assert.Equal(t, res["edited_message_id"], res["continuation_message_id"])

	ctx := context.Background()
	var rules string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT string_agg(rule || ':' || margin, ',' ORDER BY id) FROM preference_pairs WHERE judgment_id = $1`,
		id(res["judgment_id"])).Scan(&rules))
	assert.Equal(t, "ranking:0.5,ranking:0.5,ranking:2,ranking:0.5,ranking:0.5,edit:1,gold:1,gold:1.5,gold:1.5,gold:2", rules,
		"margins: the rank gap, plus the rubric difference only where both sides were rated (first 1.0, last 0.0: 1 + 1)")
	var author, diff string
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT m.author, j.edit_diff::text FROM judgments j JOIN messages m ON m.id = j.edited_message_id WHERE j.id = $1`,
		id(res["judgment_id"])).Scan(&author, &diff))
	assert.Equal(t, "human", author)
	assert.Contains(t, diff, "[1,", "the edit's diff is kept")

	// A retry (the network dropped the answer) returns the stored result and adds nothing.
	status, again := w.admin.call(t, "POST", path, sub)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, res["judgment_id"], again["judgment_id"])
	assert.Equal(t, true, again["replayed"])

	// The same key with something else in it is refused.
	changed := clone(sub)
	changed["comment"] = "改了主意"
	status, body := w.admin.call(t, "POST", path, changed)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, errorMessage(body), "already used for a different submission")

	// Judging again is a new revision; the first stays.
	second := clone(sub)
	second["idempotency_key"] = key("a2")
	second["edit"], second["gold"] = nil, nil
	second["continue_from"] = map[string]any{"candidate_id": c[0]}
	status, res2 := w.admin.call(t, "POST", path, second)
	require.Equal(t, http.StatusCreated, status, res2)
	assert.EqualValues(t, 2, res2["revision"])
	var judgments, pairs int
	require.NoError(t, w.pool.QueryRow(ctx, `SELECT count(DISTINCT j.id), count(p.id) FROM judgments j JOIN preference_pairs p ON p.judgment_id = j.id WHERE j.turn_id = $1`, turn).Scan(&judgments, &pairs))
	assert.Equal(t, 2, judgments)
	assert.Equal(t, 15, pairs)
	_, err := w.pool.Exec(ctx, `DELETE FROM preference_pairs WHERE judgment_id = $1`, id(res["judgment_id"]))
	assert.ErrorContains(t, err, "immutable", "training data is never edited in place")

	status, view := w.admin.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", turn), nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, view["judgments"], 2)
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestConcurrentDoubleSubmitStoresOnce(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	turn, c := judgedTurn(t, w)
	sub := map[string]any{"idempotency_key": key("double"), "ranking": [][]int64{{c[0], c[1]}, {c[2]}, {c[3]}},
		"continue_from": map[string]any{"candidate_id": c[0]}}
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	results := make([]map[string]any, 4)
	for i := range statuses {
		wg.Go(func() {
			statuses[i], results[i] = w.admin.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turn), sub)
		})
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		require.Contains(t, []int{http.StatusCreated, http.StatusOK}, s, results[i])
		if s == http.StatusCreated {
			created++
		}
		assert.Equal(t, results[0]["judgment_id"], results[i]["judgment_id"])
	}
	assert.Equal(t, 1, created, "one submission stored; the others got it back")
	var n int
	require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT count(*) FROM judgments WHERE turn_id = $1`, turn).Scan(&n))
	assert.Equal(t, 1, n)
}

func TestJudgmentsRefuseBadInput(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	turn, c := judgedTurn(t, w)
	all := [][]int64{{c[0]}, {c[1]}, {c[2]}, {c[3]}}
	ok := func(extra map[string]any) map[string]any {
		m := map[string]any{"idempotency_key": key(fmt.Sprint(len(extra), extra)), "ranking": all, "continue_from": map[string]any{"candidate_id": c[0]}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name       string
		sub        map[string]any
		wantStatus int
		wantField  string
		wantMsg    string
	}{
		{"a candidate from elsewhere", ok(map[string]any{"ranking": [][]int64{{c[0]}, {c[1]}, {c[2]}, {c[3]}, {999999}}}), 422, "", "candidate 999999, which is not in this turn"},
		{"one left out", ok(map[string]any{"ranking": [][]int64{{c[0]}, {c[1]}, {c[2]}}}), 422, "", fmt.Sprintf("ranking misses candidate %d", c[3])},
		{"a duplicate", ok(map[string]any{"ranking": [][]int64{{c[0], c[1]}, {c[1]}, {c[2]}, {c[3]}}}), 422, "", "twice"},
		{"a rating off the scale", ok(map[string]any{"ratings": map[string]any{fmt.Sprint(c[0]): map[string]int{"accuracy": 7}}}), 422, "", "rating for accuracy must be between 1 and 5, got 7"},
		{"a dimension not in the rubric", ok(map[string]any{"ratings": map[string]any{fmt.Sprint(c[0]): map[string]int{"charisma": 3}}}), 422, "", `"charisma" is not a dimension`},
		{"an unknown flag", ok(map[string]any{"flags": map[string]any{fmt.Sprint(c[0]): []string{"boring"}}}), 422, "", `"boring" is not one of`},
		{"no continuation", ok(map[string]any{"continue_from": map[string]any{}}), 400, "continue_from", "exactly one"},
		{"continue from an edit that is not there", ok(map[string]any{"continue_from": map[string]any{"edit": true}}), 400, "continue_from.edit", "no edit"},
		{"an edit that changes nothing", ok(map[string]any{"edit": map[string]any{"candidate_id": c[0], "content": ""}}), 400, "edit.content", "must not be empty"},
		{"an empty gold reply", ok(map[string]any{"gold": map[string]any{"content": "  "}}), 400, "gold.content", "must not be empty"},
		{"a short idempotency key", ok(map[string]any{"idempotency_key": "abc"}), 400, "idempotency_key", "8 to 128"},
		{"negative time", ok(map[string]any{"time_spent_ms": -1}), 400, "time_spent_ms", ""},
		{"an unknown field", ok(map[string]any{"score": 5}), 400, "score", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.admin.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turn), tt.sub)
			assert.Equal(t, tt.wantStatus, status, body)
			_, field, msg := errorOf(body)
			assert.Equal(t, tt.wantField, field, msg)
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
	var n int
	require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT count(*) FROM judgments`).Scan(&n))
	assert.Zero(t, n, "nothing was stored by a refused submission")
	require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE author = 'human' AND role = 'assistant'`).Scan(&n))
	assert.Zero(t, n, "and no edit or gold message was left behind")
}

func TestSubmitWaitsForEveryCandidate(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}, map[string]any{"prompt_version": 1, "model": "baseline-extractive"}))
	turn := s.next()
	var ids []int64
	for _, c := range turn["candidates"].([]any) {
		ids = append(ids, id(c.(map[string]any)["candidate_id"]))
	}
	// Ranking while streaming is the trainer's business; submitting needs every candidate done.
	status, body := w.admin.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", id(turn["turn_id"])), map[string]any{
		"idempotency_key": key("early"), "ranking": [][]int64{{ids[1]}, {ids[0]}}, "continue_from": map[string]any{"candidate_id": ids[1]}})
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.True(t, strings.Contains(errorMessage(body), "still streaming"), body)
	// Cancel once the slow one has said something: a candidate cancelled before its first
	// token has nothing to judge, and is left out of rankings.
	slow := candidateOfModel(t, turn, "slow")
	seen := s.until(func(ev map[string]any) bool { return ev["type"] == "delta" && id(ev["candidate_id"]) == slow })
	s.send(map[string]any{"type": "cancel", "turn_id": turn["turn_id"]})
	done := 0
	for _, ev := range seen {
		if ev["type"] == "done" {
			done++
		}
	}
	s.until(allDone(2 - done))
	status, body = w.admin.call(t, "POST", fmt.Sprintf("/api/v1/turns/%d/judgments", id(turn["turn_id"])), map[string]any{
		"idempotency_key": key("after"), "ranking": [][]int64{{ids[1]}, {ids[0]}}, "continue_from": map[string]any{"candidate_id": ids[1]}})
	assert.Equal(t, http.StatusCreated, status, body, "a cancelled candidate is finished enough to judge")
}
