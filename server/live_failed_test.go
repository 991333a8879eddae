package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/rlhf"
)

// exportLines writes an export of the demo project and returns its rows.
func exportLines(t *testing.T, w liveWorld, format string) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	_, _, err := export.New(w.pool, time.Now).Stream(context.Background(),
		export.Spec{Format: format, Filter: export.Filter{Project: "demo", IncludeBaseline: true}}, "", &buf)
	require.NoError(t, err)
	var rows []map[string]any
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var row map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
		rows = append(rows, row)
	}
	return rows
}

// TestFailedAndEmptyCandidatesAreNeverJudgedAndCanBeRegenerated: with the upstream down,
// trainers once had to rank the empty failed panes, and the export then held DPO rows with
// an empty side and SFT rows with an empty reply. Now such candidates are refused in a
// ranking, left out of every export, and can be streamed again in place.
func TestFailedAndEmptyCandidatesAreNeverJudgedAndCanBeRegenerated(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	w.models.fickleDown.Store(true)
	s := w.socket(t, w.admin)
	s.send(w.generate(
		map[string]any{"prompt_version": 1, "model": "steady"},
		map[string]any{"prompt_version": 2, "model": "fickle"}, // refused before any token: failed, empty
		map[string]any{"prompt_version": 1, "model": "flaky"},  // some text, then an error: failed
	))
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	s.until(allDone(3))
	turnID := id(turn["turn_id"])
	good, refused, broken := candidateOfModel(t, turn, "steady"), candidateOfModel(t, turn, "fickle"), candidateOfModel(t, turn, "flaky")
	path := fmt.Sprintf("/api/v1/turns/%d/judgments", turnID)
	key := func(id int64) string { return fmt.Sprint(id) }

	tests := []struct {
		name, field string
		body        map[string]any
	}{
		{"ranking an empty failed candidate", "ranking", map[string]any{"ranking": [][]int64{{good}, {refused}}}},
		{"ranking a failed candidate with partial text", "ranking", map[string]any{"ranking": [][]int64{{good}, {broken}}}},
		{"rating a failed candidate", "ratings", map[string]any{"ranking": [][]int64{{good}},
			"ratings": map[string]any{key(refused): map[string]int{"accuracy": 1}}}},
		{"correcting an empty candidate", "edit.candidate_id", map[string]any{"ranking": [][]int64{{good}},
			"edit": map[string]any{"candidate_id": refused, "content": "补上的回复"}}},
		{"continuing from a failed candidate", "continue_from.candidate_id", map[string]any{"ranking": [][]int64{{good}},
			"continue_from": map[string]any{"candidate_id": broken}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["idempotency_key"] = fmt.Sprintf("failed-case-%04d", i)
			if tt.body["continue_from"] == nil {
				tt.body["continue_from"] = map[string]any{"candidate_id": good}
			}
			status, body := w.admin.call(t, "POST", path, tt.body)
			code, field, msg := errorOf(body)
			assert.Equal(t, http.StatusBadRequest, status, body)
			assert.Equal(t, "invalid", code)
			assert.Equal(t, tt.field, field)
			assert.Contains(t, msg, "failed or is empty")
		})
	}

	// Regenerate: a usable candidate is refused; the empty one streams again in place.
	s.send(map[string]any{"type": "regenerate", "id": "r0", "turn_id": turnID, "candidate_id": good})
	ev := s.next()
	assert.Equal(t, "error", ev["type"], ev)
	assert.Equal(t, "unprocessable", ev["code"], ev)
	w.models.fickleDown.Store(false)
	s.send(map[string]any{"type": "regenerate", "id": "r1", "turn_id": turnID, "candidate_id": refused})
	events := s.until(allDone(1))
	require.Equal(t, "start", events[0]["type"], "a new start for the same candidate: %v", events[0])
	assert.Equal(t, float64(refused), events[0]["candidate_id"])
	var text string
	for _, e := range events {
		require.Equal(t, float64(refused), e["candidate_id"], "%v", e)
		if e["type"] == "delta" {
			text += e["content"].(string)
		}
	}
	last := events[len(events)-1]
	assert.Equal(t, "complete", last["status"], last)
	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), turnID)
	require.NoError(t, err)
	for _, c := range st.Candidates {
		if c.ID == refused {
			assert.Equal(t, rlhf.StatusComplete, c.Status)
			assert.Equal(t, text, c.Content)
			assert.NotEmpty(t, c.Content)
		}
	}

	// Now it can be ranked; the one that failed half-way still cannot. A gold reply beats the
	// two usable candidates, and only them.
	status, body := w.admin.call(t, "POST", path, map[string]any{"idempotency_key": "failed-ok-0001",
		"ranking": [][]int64{{refused}, {good}}, "gold": map[string]any{"content": "金标准回复"}, "continue_from": map[string]any{"gold": true}})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, float64(3), body["pairs"], "the ranked pair and gold over each of the two")

	// A pair an older server stored against the failed candidate stays out of the export too.
	_, err = w.pool.Exec(context.Background(), `INSERT INTO preference_pairs (judgment_id, chosen_message_id, rejected_message_id, rule, margin)
		SELECT $1, (SELECT message_id FROM candidates WHERE id = $2), (SELECT message_id FROM candidates WHERE id = $3), 'ranking', 1`,
		body["judgment_id"], good, broken)
	require.NoError(t, err)
	dpo := exportLines(t, w, "trl-dpo")
	assert.Len(t, dpo, 3, "the legacy pair with a failed side is left out")
	for _, row := range dpo {
		assert.NotEmpty(t, row["chosen"].([]any)[0].(map[string]any)["content"], "%v", row)
		assert.NotEmpty(t, row["rejected"].([]any)[0].(map[string]any)["content"], "%v", row)
		assert.NotContains(t, row["rejected"].([]any)[0].(map[string]any)["content"], "flaky", "the failed candidate is no side of a row")
	}
	for _, row := range exportLines(t, w, "openai-sft") {
		msgs := row["messages"].([]any)
		assert.NotEmpty(t, msgs[len(msgs)-1].(map[string]any)["content"], "%v", row)
	}

	// Once the turn is judged, regenerating would change what the judgment was made of.
	s.send(map[string]any{"type": "regenerate", "id": "r2", "turn_id": turnID, "candidate_id": broken})
	ev = s.next()
	assert.Equal(t, "unprocessable", ev["code"], ev)
	assert.Contains(t, ev["message"], "judged already")
}

// TestAFailedGenerateGivesItsSlotsBack: a generate refused after its slots were reserved (here
// by the store: the parent is the user's own message, not a reply) must give them back, or a
// trainer runs out of generations until the server restarts.
func TestAFailedGenerateGivesItsSlotsBack(t *testing.T) {
	t.Parallel()
	w := newLiveWorldWith(t, options{limits: live.Limits{Concurrent: 2}})
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "steady"}))
	first := s.next()
	require.Equal(t, "turn", first["type"], first)
	s.until(allDone(1))
	two := []any{map[string]any{"prompt_version": 1, "model": "steady"}, map[string]any{"prompt_version": 2, "model": "steady"}}
	for range 3 { // more than the limit, had the slots been kept
		s.send(map[string]any{"type": "generate", "id": "bad", "persona_id": w.persona.ID, "message": "再问", "plan": two,
			"conversation_id": first["conversation_id"], "parent_message_id": first["user_message_id"]})
		ev := s.next()
		require.Equal(t, "error", ev["type"], ev)
		assert.Equal(t, "parent_message_id", ev["field"], ev)
	}
	s.send(map[string]any{"type": "generate", "id": "ok", "persona_id": w.persona.ID, "message": "再问一次", "plan": two})
	ev := s.next()
	assert.Equal(t, "turn", ev["type"], "the two slots are free again: %v", ev)
	s.until(allDone(2))
}
