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

// TestJudgmentRevisions: a trainer's judgment is rejected (and the rejection appealed and
// upheld), resubmitted, and fixed and accepted by a reviewer; GET
// /judgments/:judgment/revisions answers the three revisions in order, each attributed to
// its author with the decisions about it, from any of the three ids. The trainer, the
// project's reviewer and admin, and the lead of the trainer's base may read it; another
// trainer, another base's lead, a viewer and an outsider get the 404 of a judgment that
// does not exist; an id that is not one is refused naming the field, in both languages.
func TestJudgmentRevisions(t *testing.T) {
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
	trainer := f.member(t, "rev-trainer", sum.Project.ID, auth.RoleTrainer)
	otherTrainer := f.member(t, "rev-other", sum.Project.ID, auth.RoleTrainer)
	lead := f.member(t, "rev-lead", sum.Project.ID, auth.RoleTrainer)
	otherLead := f.member(t, "rev-other-lead", sum.Project.ID, auth.RoleTrainer)
	reviewer := f.member(t, "rev-reviewer", sum.Project.ID, auth.RoleReviewer)
	viewer := f.member(t, "rev-viewer", sum.Project.ID, auth.RoleViewer)
	f.user(t, "rev-outsider", false)
	outsider := f.signIn(t, "rev-outsider")
	_, err = f.deps.Bases.ImportPeople(ctx, sum.Project.ID, []base.PersonRow{
		{Line: 2, Login: "rev-trainer", Name: "用户 rev-trainer", Base: "一号基地", Role: auth.RoleTrainer},
		{Line: 3, Login: "rev-other", Name: "标注员乙", Base: "一号基地", Role: auth.RoleTrainer},
		{Line: 4, Login: "rev-lead", Name: "一号组长", Base: "一号基地", Role: auth.RoleTrainer, Lead: true},
		{Line: 5, Login: "rev-other-lead", Name: "二号组长", Base: "二号基地", Role: auth.RoleTrainer, Lead: true}})
	require.NoError(t, err)
	campaignPath := func(format string, args ...any) string {
		return fmt.Sprintf("/api/v1/campaigns/%d"+format, append([]any{id}, args...)...)
	}

	// Revision 1: the trainer ranks A over B. The admin rejects it; the trainer appeals and
	// the lead upholds the rejection.
	status, body := trainer.call(t, "POST", campaignPath("/next"), nil)
	require.Equal(t, 201, status, "%v", body)
	claim := body["claim"].(map[string]any)
	status, body = trainer.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", int64(claim["turn_id"].(float64))), nil)
	require.Equal(t, 200, status, "%v", body)
	var cands []int64
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		cands = append(cands, int64(c.(map[string]any)["id"].(float64)))
	}
	require.Len(t, cands, 2)
	status, body = trainer.call(t, "POST", fmt.Sprintf("/api/v1/claims/%d/judgment", int64(claim["id"].(float64))), map[string]any{"idempotency_key": "revisions-1",
		"ranking": [][]int64{{cands[0]}, {cands[1]}}, "continue_from": map[string]any{"candidate_id": cands[0]}, "time_spent_ms": 5000})
	require.Equal(t, 201, status, "%v", body)
	first := int64(body["judgment_id"].(float64))
	status, body = f.admin.call(t, "POST", campaignPath("/reviews"), map[string]any{"judgment_id": first, "verdict": "rejected", "reason_code": "wrong_ranking", "comment": "B 更准确"})
	require.Equal(t, 201, status, "%v", body)
	rejection := int64(body["review_id"].(float64))
	status, body = trainer.call(t, "POST", fmt.Sprintf("/api/v1/reworks/%d/appeal", rejection), map[string]any{"reason": "A 引用了规定"})
	require.Equal(t, 201, status, "%v", body)
	status, body = lead.call(t, "PUT", fmt.Sprintf("/api/v1/appeals/%d", rejection), map[string]any{"decision": "upheld", "note": "驳回成立"})
	require.Equal(t, 200, status, "%v", body)

	// Revision 2: the trainer's resubmission, B over A with a correction of B. Revision 3:
	// the reviewer's fix of it, with the correction extended.
	status, body = trainer.call(t, "POST", fmt.Sprintf("/api/v1/reworks/%d/judgment", rejection), map[string]any{"idempotency_key": "revisions-2",
		"ranking": [][]int64{{cands[1]}, {cands[0]}}, "edit": map[string]any{"candidate_id": cands[1], "content": "按规定，限额为五万元。"},
		"continue_from": map[string]any{"candidate_id": cands[1]}, "time_spent_ms": 6000})
	require.Equal(t, 201, status, "%v", body)
	second := int64(body["judgment_id"].(float64))
	status, body = reviewer.call(t, "POST", campaignPath("/reviews"), map[string]any{"judgment_id": second, "verdict": "fixed", "comment": "补上了依据",
		"fix": map[string]any{"idempotency_key": "revisions-fix", "ranking": [][]int64{{cands[1]}, {cands[0]}},
			"edit": map[string]any{"candidate_id": cands[1], "content": "按规定，限额为五万元（第三条）。"}, "continue_from": map[string]any{"edit": true}, "time_spent_ms": 3000}})
	require.Equal(t, 201, status, "%v", body)
	fix := int64(body["fixed_judgment_id"].(float64))

	revisions := func(c *client, judgment any) (int, map[string]any) {
		t.Helper()
		return c.call(t, "GET", fmt.Sprintf("/api/v1/judgments/%v/revisions", judgment), nil)
	}
	status, body = revisions(trainer, first)
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, "用户 rev-trainer", body["trainer"].(map[string]any)["name"])
	assert.EqualValues(t, id, body["campaign_id"])
	assert.Len(t, body["candidates"], 2, "the candidates as the trainer saw them")
	revs := body["revisions"].([]any)
	require.Len(t, revs, 3)
	r1, r2, r3 := revs[0].(map[string]any), revs[1].(map[string]any), revs[2].(map[string]any)
	for i, tt := range []struct {
		rev        map[string]any
		judgment   int64
		role, name string
		state      string
		revision   int
	}{
		{r1, first, "trainer", "用户 rev-trainer", "rejected", 1},
		{r2, second, "trainer", "用户 rev-trainer", "rejected", 2}, // superseded by the fix
		{r3, fix, "reviewer", "用户 rev-reviewer", "accepted", 1},
	} {
		assert.EqualValues(t, i+1, tt.rev["seq"])
		assert.EqualValues(t, tt.judgment, tt.rev["judgment_id"])
		assert.Equal(t, tt.role, tt.rev["author_role"])
		assert.Equal(t, tt.name, tt.rev["author"].(map[string]any)["name"])
		assert.Equal(t, tt.state, tt.rev["review_state"])
		assert.EqualValues(t, tt.revision, tt.rev["revision"], "the author's own revision number")
	}
	// The rejection, with its reason in both languages, the comment and the upheld appeal.
	d1 := r1["reviews"].([]any)[0].(map[string]any)
	assert.Equal(t, "rejected", d1["verdict"])
	assert.Equal(t, []any{"wrong_ranking", "Wrong ranking", "排序错误", "B 更准确"}, []any{d1["reason_code"], d1["reason_en"], d1["reason_zh"], d1["comment"]})
	appeal := d1["appeal"].(map[string]any)
	assert.Equal(t, []any{"A 引用了规定", "upheld", "驳回成立", "用户 rev-lead"}, []any{appeal["reason"], appeal["state"], appeal["note"], appeal["decided_by"].(map[string]any)["name"]})
	// The resubmission answers the rejection; the reviewer's fix of it is attributed to them.
	assert.EqualValues(t, rejection, r2["resubmits"])
	assert.Equal(t, "按规定，限额为五万元。", r2["edit"].(map[string]any)["content"])
	d2 := r2["reviews"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{"fixed", "用户 rev-reviewer", "补上了依据", float64(fix)}, []any{d2["verdict"], d2["reviewer"].(map[string]any)["name"], d2["comment"], d2["fixed_judgment_id"]})
	assert.EqualValues(t, second, r3["fix_of"])
	assert.Equal(t, "按规定，限额为五万元（第三条）。", r3["edit"].(map[string]any)["content"])
	assert.Empty(t, r3["reviews"])
	assert.Nil(t, r1["fix_of"])

	// Access: the same chain from any of its ids for those who may read it; a 404 for the rest.
	for _, tt := range []struct {
		name     string
		who      *client
		judgment any
		status   int
		field    string
	}{
		{"the trainer, from the resubmission", trainer, second, 200, ""},
		{"the trainer, from the reviewer's fix", trainer, fix, 200, ""},
		{"another trainer of the same base", otherTrainer, first, 404, ""},
		{"the reviewer", reviewer, first, 200, ""},
		{"the lead of the trainer's base", lead, fix, 200, ""},
		{"the lead of another base", otherLead, first, 404, ""},
		{"a viewer of the project", viewer, first, 404, ""},
		{"someone outside the project", outsider, first, 404, ""},
		{"the project's admin", f.admin, second, 200, ""},
		{"no such judgment", f.admin, fix + 1000, 404, ""},
		{"not a number", trainer, "abc", 400, "judgment"},
		{"not an id", trainer, 0, 400, "judgment"},
		{"negative", trainer, -3, 400, "judgment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := revisions(tt.who, tt.judgment)
			require.Equal(t, tt.status, status, "%v", body)
			switch {
			case status == 200:
				assert.Len(t, body["revisions"], 3)
			case tt.field != "":
				assert.Equal(t, tt.field, body["error"].(map[string]any)["field"])
			default:
				assert.Contains(t, body["error"].(map[string]any)["message"], "no judgment", "the same answer as for no judgment at all")
			}
		})
	}
	// My work's list of fixes: the trainer's, and nobody else's.
	status, body = trainer.call(t, "GET", "/api/v1/fixes", nil)
	require.Equal(t, 200, status, "%v", body)
	fixes := body["fixes"].([]any)
	require.Len(t, fixes, 1)
	f1 := fixes[0].(map[string]any)
	assert.Equal(t, []any{float64(second), float64(fix), "用户 rev-reviewer", "补上了依据"}, []any{f1["judgment_id"], f1["fixed_judgment_id"], f1["reviewer"], f1["comment"]})
	status, body = otherTrainer.call(t, "GET", "/api/v1/fixes", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.Empty(t, body["fixes"])

	status, body = revisions(trainer.speaking("zh-CN"), "abc")
	require.Equal(t, 400, status, "%v", body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "不是有效的评判编号")
	status, body = revisions(otherLead.speaking("zh-CN"), first)
	require.Equal(t, 404, status, "%v", body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "没有评判")
}
