package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestQualityAnswersMatchTheContract walks every quality-control route (issue 14, part B) to
// its documented answers, with something in each list, so the contract check sees the bodies
// as the handlers write them.
func TestQualityAnswersMatchTheContract(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	sum, err := demo.Load(ctx, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	root, err := f.auth.UserByLogin(ctx, "root")
	require.NoError(t, err)
	require.NoError(t, f.deps.Campaigns.LoadDemo(ctx, prompts.NewStore(f.pool), sum.Project.ID, root.ID))
	var id int64
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT id FROM campaigns WHERE project_id = $1 AND name = $2`, sum.Project.ID, campaign.DemoName).Scan(&id))
	generateAll(t, f, id)
	a := f.admin
	want := func(status int, got int, body map[string]any, what string) {
		t.Helper()
		require.Equal(t, status, got, "%s: %v", what, body)
	}
	path := func(format string, args ...any) string {
		return fmt.Sprintf("/api/v1/campaigns/%d"+format, append([]any{id}, args...)...)
	}

	status, body := a.call(t, "PUT", path("/checks"), map[string]any{"honeypot_rate": 0, "speed_floor_ms": 3000})
	want(200, status, body, "checks")
	status, body = a.call(t, "PUT", path("/checks"), map[string]any{"honeypot_rate": 0.7})
	want(400, status, body, "checks out of range")

	// One rushed judgment, so the statistics have a row and a speed flag.
	status, body = a.call(t, "POST", path("/next"), nil)
	want(201, status, body, "next")
	c := body["claim"].(map[string]any)
	claim, turn, item := int64(c["id"].(float64)), int64(c["turn_id"].(float64)), int64(c["item_id"].(float64))
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", turn), nil)
	want(200, status, body, "turn")
	var cands []int64
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		cands = append(cands, int64(c.(map[string]any)["id"].(float64)))
	}
	status, body = a.call(t, "POST", fmt.Sprintf("/api/v1/claims/%d/judgment", claim), map[string]any{"idempotency_key": "quality-contract-1",
		"ranking": [][]int64{{cands[0]}, {cands[1]}}, "continue_from": map[string]any{"candidate_id": cands[0]}, "time_spent_ms": 500})
	want(201, status, body, "judgment")

	status, body = a.call(t, "GET", path("/gold/%d", item), nil)
	want(200, status, body, "gold draft")
	assert.Len(t, body["item"].(map[string]any)["candidates"], 2)
	status, body = a.call(t, "POST", path("/gold"), map[string]any{"item_id": item, "answer": map[string]any{"kind": "ordering", "ranking": [][]int64{{cands[0]}}}})
	want(400, status, body, "gold without a full ordering")
	status, body = a.call(t, "POST", path("/gold"), map[string]any{"item_id": item, "answer": map[string]any{"kind": "best", "candidate_id": cands[0]}})
	want(201, status, body, "gold")
	status, body = a.call(t, "GET", path("/gold"), nil)
	want(200, status, body, "gold list")
	assert.Len(t, body["gold"], 1)
	status, body = a.call(t, "POST", path("/gold/promote"), map[string]any{"item_id": item})
	want(400, status, body, "promote a gold item")

	_, err = f.pool.Exec(ctx, `INSERT INTO trainer_pauses (campaign_id, trainer_id, accuracy, gold_items, paused_at) VALUES ($1, $2, 0.5, 10, now())`, id, root.ID)
	require.NoError(t, err)
	status, body = a.call(t, "GET", path("/pauses"), nil)
	want(200, status, body, "pauses")
	assert.Len(t, body["pauses"], 1)
	status, body = a.call(t, "DELETE", path("/pauses/%d", root.ID), nil)
	want(204, status, body, "lift")
	status, body = a.call(t, "DELETE", path("/pauses/%d", root.ID), nil)
	want(404, status, body, "lift again")

	_, err = f.deps.Agreement.Refresh(ctx, id)
	require.NoError(t, err)
	status, body = a.call(t, "GET", path("/agreement"), nil)
	want(200, status, body, "agreement")
	assert.NotNil(t, body["agreement"].(map[string]any)["refreshed_at"])
	status, body = a.call(t, "GET", path("/trainer-stats"), nil)
	want(200, status, body, "trainer stats")
	require.Len(t, body["trainers"], 1)
	assert.Equal(t, float64(1), body["trainers"].([]any)[0].(map[string]any)["speed_flagged"])

	// Reduced inspection and discontinuation: the setting, a note, and where a base stands.
	status, body = a.call(t, "PUT", path("/qc/settings"), map[string]any{"aql": "1.0", "reduced_allowed": true})
	want(200, status, body, "qc settings")
	assert.Equal(t, true, body["reduced_allowed"])
	var base int64
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('契约基地') RETURNING id`).Scan(&base))
	status, body = a.call(t, "POST", path("/qc/switching-notes"), map[string]any{"base_id": base, "kind": "resumed"})
	want(400, status, body, "resume what is not discontinued")
	assert.Equal(t, "kind", body["error"].(map[string]any)["field"])
	status, body = a.call(t, "POST", path("/qc/switching-notes"), map[string]any{"base_id": base, "kind": "irregular", "note": "停工"})
	want(201, status, body, "irregular")
	assert.Equal(t, "normal", body["state"])
	status, body = a.call(t, "GET", path("/qc?base=%d", base), nil)
	want(200, status, body, "qc of one base")
	assert.Equal(t, "start", body["switching"].(map[string]any)["reason"])
	// The QC page lists the notes recorded (the switching notes screen, issue 14).
	notes, _ := body["notes"].([]any)
	require.Len(t, notes, 1, "%v", body["notes"])
	note := notes[0].(map[string]any)
	assert.Equal(t, []any{"irregular", "停工", float64(base), float64(0)}, []any{note["kind"], note["note"], note["base_id"], note["after_seq"]})
	assert.Equal(t, "契约基地", note["base"])
	assert.NotEmpty(t, note["by"])
	status, body = a.call(t, "GET", path("/qc"), nil)
	want(200, status, body, "qc of the campaign")
	assert.Len(t, body["notes"], 1, "the campaign's page lists every base's notes")

	status, body = a.call(t, "DELETE", path("/gold/%d", item), nil)
	want(204, status, body, "remove gold")
	status, body = a.call(t, "DELETE", path("/gold/%d", item), nil)
	want(404, status, body, "remove again")
}
