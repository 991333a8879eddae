package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// uploadChecked sends one file as multipart (field "file") and checks the answer against
// the OpenAPI document, as client.call does for JSON bodies.
func (c *client) uploadChecked(t *testing.T, path, name string, data []byte) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest("POST", c.f.srv.URL+path, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	contract, err := theContract()
	require.NoError(t, err)
	contract.check(t, "POST", path, res.StatusCode, res.Header.Get("Content-Type"), raw)
	return res.StatusCode
}

// TestCampaignAnswersMatchTheContract walks every campaign and base route to a success, so
// the contract check sees each documented body as the handlers really write it: the set-up,
// imports with bad lines, a claim taken, renewed, skipped and judged, and a base with its
// people.
func TestCampaignAnswersMatchTheContract(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	sum, err := demo.Load(ctx, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	slug := sum.Project.Slug
	root, err := f.auth.UserByLogin(ctx, "root")
	require.NoError(t, err)
	require.NoError(t, f.deps.Campaigns.LoadDemo(ctx, prompts.NewStore(f.pool), sum.Project.ID, root.ID))
	var demoID int64
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT id FROM campaigns WHERE project_id = $1 AND name = $2`, sum.Project.ID, campaign.DemoName).Scan(&demoID))
	generateAll(t, f, demoID)
	a := f.admin
	want := func(status int, got int, body map[string]any, what string) {
		t.Helper()
		require.Equal(t, status, got, "%s: %v", what, body)
	}

	// Set-up.
	status, body := a.call(t, "GET", "/api/v1/projects/"+slug+"/campaigns", nil)
	want(200, status, body, "list")
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/campaigns/%d", demoID), nil)
	want(200, status, body, "get")
	demoCampaign := body["campaign"].(map[string]any)
	status, body = a.call(t, "POST", "/api/v1/projects/"+slug+"/campaigns", map[string]any{
		"persona_id": demoCampaign["persona_id"], "name": "契约检查", "task_kind": "rank_rate", "k": 9,
		"plan": demoCampaign["plan"]})
	want(201, status, body, "create")
	assert.NotEmpty(t, body["warnings"], "k = 9 is more than the trainers who can work on it")
	draft := int64(body["campaign"].(map[string]any)["id"].(float64))
	status, body = a.call(t, "PUT", fmt.Sprintf("/api/v1/campaigns/%d/guidelines", draft), map[string]any{"guidelines": "## 规范"})
	want(200, status, body, "guidelines")
	jsonl := "{\"question\":\"行李里的茶叶要申报吗？\"}\n{\"question\":\"行李里的茶叶要申报吗？\"}\n{\"tags\":[\"x\"]}\n"
	assert.Equal(t, 200, a.uploadChecked(t, fmt.Sprintf("/api/v1/campaigns/%d/items", draft), "items.jsonl", []byte(jsonl)))
	status, body = a.call(t, "POST", fmt.Sprintf("/api/v1/campaigns/%d/turns", draft), map[string]any{"turn_ids": []int64{999999}})
	want(200, status, body, "turns")
	assert.Len(t, body["errors"], 1)
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/campaigns/%d/failed", draft), nil)
	want(200, status, body, "failed")
	status, body = a.call(t, "POST", fmt.Sprintf("/api/v1/campaigns/%d/regenerate", draft), nil)
	want(200, status, body, "regenerate")
	status, body = a.call(t, "PUT", fmt.Sprintf("/api/v1/campaigns/%d/state", draft), map[string]any{"state": "closed"})
	want(200, status, body, "close")

	// Work: claim, renew, skip; claim again and judge.
	status, body = a.call(t, "GET", "/api/v1/work", nil)
	want(200, status, body, "my work")
	next := func() (int64, int64) {
		t.Helper()
		status, body := a.call(t, "POST", fmt.Sprintf("/api/v1/campaigns/%d/next", demoID), nil)
		want(201, status, body, "next")
		c := body["claim"].(map[string]any)
		return int64(c["id"].(float64)), int64(c["turn_id"].(float64))
	}
	claim, _ := next()
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/campaigns/%d/claims", demoID), nil)
	want(200, status, body, "claims")
	status, body = a.call(t, "PUT", fmt.Sprintf("/api/v1/claims/%d/lease", claim), nil)
	want(200, status, body, "lease")
	status, body = a.call(t, "POST", fmt.Sprintf("/api/v1/claims/%d/skip", claim), map[string]any{"reason": campaign.SkipUnclear})
	want(204, status, body, "skip")
	claim, turn := next()
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", turn), nil)
	want(200, status, body, "turn")
	var cands []int64
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		cands = append(cands, int64(c.(map[string]any)["id"].(float64)))
	}
	require.Len(t, cands, 2)
	sub := map[string]any{"idempotency_key": "contract-0000000000000001", "ranking": [][]int64{{cands[0]}, {cands[1]}},
		"gold": map[string]any{"content": "标准答案。"}, "continue_from": map[string]any{"gold": true}, "time_spent_ms": 1000}
	status, body = a.call(t, "POST", fmt.Sprintf("/api/v1/claims/%d/judgment", claim), sub)
	want(201, status, body, "judgment")

	// Bases and people.
	status, body = a.call(t, "POST", "/api/v1/bases", map[string]any{"name": "西区基地"})
	want(201, status, body, "create base")
	baseID := int64(body["base"].(map[string]any)["id"].(float64))
	status, body = a.call(t, "GET", "/api/v1/bases", nil)
	want(200, status, body, "bases")
	status, body = a.call(t, "PUT", fmt.Sprintf("/api/v1/projects/%s/bases/%d", slug, baseID), nil)
	want(204, status, body, "admit")
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/projects/%s/bases", slug), nil)
	want(200, status, body, "the project's bases")
	listed := body["bases"].([]any)
	require.Len(t, listed, 1)
	assert.Equal(t, true, listed[0].(map[string]any)["admitted"], "the base just admitted says so")
	people := "login,name,base,role,lead\nwest-lead,西区组长,西区基地,trainer,是\nbad,,西区基地,nobody,\n"
	assert.Equal(t, 200, a.uploadChecked(t, "/api/v1/projects/"+slug+"/people", "people.csv", []byte(people)))
	status, body = a.call(t, "GET", fmt.Sprintf("/api/v1/bases/%d/people", baseID), nil)
	want(200, status, body, "base view")
	assert.Len(t, body["people"], 1)
}
