package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestQCScreenReads: the two reads behind the QC screens (an appeal with its judgment, and
// the bases a batch may be closed for) answer as documented, and each person gets what they
// may do: the lead may decide their trainer's appeal, the admin who rejected may not, and a
// trainer reviews nothing; the admin is offered every base of the campaign, the lead theirs,
// the trainer none.
func TestQCScreenReads(t *testing.T) {
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
	// The campaign names no base, so the bases the project admits are its bases.
	trainer := f.member(t, "qc-trainer", sum.Project.ID, auth.RoleTrainer)
	lead := f.member(t, "qc-lead", sum.Project.ID, auth.RoleTrainer)
	_ = f.member(t, "qc-other-lead", sum.Project.ID, auth.RoleTrainer)
	_, err = f.deps.Bases.ImportPeople(ctx, sum.Project.ID, []base.PersonRow{
		{Line: 2, Login: "qc-trainer", Name: "标注员", Base: "一号基地", Role: auth.RoleTrainer},
		{Line: 3, Login: "qc-lead", Name: "组长", Base: "一号基地", Role: auth.RoleTrainer, Lead: true},
		{Line: 4, Login: "qc-other-lead", Name: "二号组长", Base: "二号基地", Role: auth.RoleTrainer, Lead: true}})
	require.NoError(t, err)
	path := func(format string, args ...any) string {
		return fmt.Sprintf("/api/v1/campaigns/%d"+format, append([]any{id}, args...)...)
	}

	names := func(c *client) []string {
		t.Helper()
		status, body := c.call(t, "GET", path("/batch-bases"), nil)
		require.Equal(t, 200, status, "%v", body)
		out := []string{}
		for _, b := range body["bases"].([]any) {
			out = append(out, b.(map[string]any)["name"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"一号基地", "二号基地"}, names(f.admin), "an admin closes any of the campaign's bases")
	assert.Equal(t, []string{"一号基地"}, names(lead), "a lead, theirs")
	assert.Empty(t, names(trainer))

	// The trainer judges; the admin rejects; the trainer appeals.
	status, body := trainer.call(t, "POST", path("/next"), nil)
	require.Equal(t, 201, status, "%v", body)
	c := body["claim"].(map[string]any)
	status, body = trainer.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", int64(c["turn_id"].(float64))), nil)
	require.Equal(t, 200, status, "%v", body)
	var cands []int64
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		cands = append(cands, int64(c.(map[string]any)["id"].(float64)))
	}
	status, body = trainer.call(t, "POST", fmt.Sprintf("/api/v1/claims/%d/judgment", int64(c["id"].(float64))), map[string]any{"idempotency_key": "qc-screens-1",
		"ranking": [][]int64{{cands[0]}, {cands[1]}}, "continue_from": map[string]any{"candidate_id": cands[0]}, "time_spent_ms": 5000})
	require.Equal(t, 201, status, "%v", body)
	judgment := body["judgment_id"].(float64)
	status, body = f.admin.call(t, "POST", path("/reviews"), map[string]any{"judgment_id": judgment, "verdict": "rejected", "reason_code": "careless", "comment": "请重新比较"})
	require.Equal(t, 201, status, "%v", body)
	review := int64(body["review_id"].(float64))
	status, body = trainer.call(t, "POST", fmt.Sprintf("/api/v1/reworks/%d/appeal", review), map[string]any{"reason": "我核对过"})
	require.Equal(t, 201, status, "%v", body)

	for _, tt := range []struct {
		name      string
		who       *client
		review    int64
		status    int
		canDecide bool
	}{
		{"the trainer's lead may decide", lead, review, 200, true},
		{"the admin who rejected may not", f.admin, review, 200, false},
		{"another base's lead sees nothing of it", f.signIn(t, "qc-other-lead"), review, 404, false},
		{"a trainer reviews nothing", trainer, review, 404, false},
		{"no such appeal", lead, review + 1000, 404, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.who.call(t, "GET", path("/appeals/%d", tt.review), nil)
			require.Equal(t, tt.status, status, "%v", body)
			if status != 200 {
				return
			}
			assert.Equal(t, tt.canDecide, body["can_decide"])
			assert.Equal(t, "我核对过", body["appeal"].(map[string]any)["reason"])
			item := body["item"].(map[string]any)
			assert.Equal(t, judgment, item["judgment_id"])
			assert.Len(t, item["candidates"], len(cands), "the judgment comes with its candidates")
		})
	}
	status, body = lead.speaking("zh-CN").call(t, "GET", path("/appeals/%d", review+1000), nil)
	require.Equal(t, 404, status, "%v", body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "没有审核", "in the reader's language")
	status, body = lead.call(t, "PUT", fmt.Sprintf("/api/v1/appeals/%d", review), map[string]any{"decision": "upheld", "note": "驳回成立"})
	require.Equal(t, 200, status, "%v", body)
	status, body = lead.call(t, "GET", path("/appeals/%d", review), nil)
	assert.Equal(t, 404, status, "a decided appeal no longer waits: %v", body)
}
