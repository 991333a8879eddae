package server_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestLeaderboardAnswersMatchTheContract walks the leaderboard routes to each documented
// answer through the contract-checked client: a board with parts and one with too few
// entries, a comparison that offers a campaign and one that decides, the voter check, and the
// 422 for a dimension not in the rubric.
func TestLeaderboardAnswersMatchTheContract(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	sum, err := demo.Load(ctx, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	slug := "/api/v1/projects/" + sum.Project.Slug
	a := f.admin

	status, body := a.call(t, "GET", slug+"/leaderboard", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, []any{leaderboard.NoticeTooFewEntries}, body["notices"], "no votes yet")
	status, body = a.call(t, "GET", slug+"/leaderboard/compare?persona=customs-helper&a=1&b=2&rounds=50", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.NotNil(t, body["campaign"], "never compared: a campaign is offered")

	root, err := f.auth.UserByLogin(ctx, "root")
	require.NoError(t, err)
	require.NoError(t, leaderboard.LoadDemo(ctx, f.pool, sum.Project.ID, root.ID, []int64{root.ID}))
	status, body = a.call(t, "GET", slug+"/leaderboard?persona=customs-helper&by=model_version&rounds=50", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.NotEmpty(t, body["parts"])
	status, body = a.call(t, "GET", slug+"/leaderboard?persona=customs-helper&dimension=accuracy&source=all&counted=submitted&rounds=50&seed=9", nil)
	require.Equal(t, 200, status, "%v", body)
	status, body = a.call(t, "GET", slug+"/leaderboard/compare?persona=customs-helper&a=1&b=2&rounds=50", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, leaderboard.VerdictBetter, body["overall"].(map[string]any)["verdict"])
	status, body = a.call(t, "GET", slug+"/leaderboard/voters?persona=customs-helper&rounds=50", nil)
	require.Equal(t, 200, status, "%v", body)
	assert.NotEmpty(t, body["voters"])

	status, body = a.call(t, "GET", slug+"/leaderboard?persona=customs-helper&dimension=charm", nil)
	require.Equal(t, 422, status, "%v", body)
	status, body = a.call(t, "GET", slug+"/leaderboard?by=colour", nil)
	require.Equal(t, 400, status, "%v", body)
	status, body = a.call(t, "GET", slug+"/leaderboard/compare?persona=customs-helper&a=1&b=1", nil)
	require.Equal(t, 400, status, "%v", body)
}
