package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestJudgmentRevisionsInChromium is a judgment's revisions page (issue 14) through mentor
// serve in a real headless Chromium: the trainer's judgment is rejected, reworked and
// resubmitted, and the reviewer fixes and accepts the resubmission. The review stream and
// the appeals page link the judgment's revisions; the trainer opens them from My work and
// sees all three, newest first: the reviewer's fix attributed to the reviewer, with the
// correction's diff, and their own two revisions with the ranking's change.
func TestJudgmentRevisionsInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	trainer, reviewer := m.signIn(t, "trainer"), m.signIn(t, "reviewer")
	work := demoCampaign(t, trainer, 2)
	cid := work.CampaignID
	first := judgeNext(t, trainer, cid, "revisions-e2e-1") // A over B

	// The reviewer rejects it; the trainer appeals and resubmits B over A, correcting B.
	status, body := reviewer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/reviews", cid), map[string]any{"judgment_id": first, "verdict": "rejected",
		"reason_code": "wrong_ranking", "comment": "B 的回答更准确"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var rejected struct {
		ReviewID int64 `json:"review_id"`
	}
	require.NoError(t, json.Unmarshal(body, &rejected))
	var rework struct {
		Item struct {
			Candidates []struct {
				ID       int64  `json:"id"`
				Position int    `json:"position"`
				Content  string `json:"content"`
			} `json:"candidates"`
		} `json:"item"`
	}
	trainer.get(fmt.Sprintf("/api/v1/reworks/%d", rejected.ReviewID), &rework)
	require.Len(t, rework.Item.Candidates, 2)
	a, b := rework.Item.Candidates[0], rework.Item.Candidates[1]
	if a.Position > b.Position {
		a, b = b, a
	}
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/reworks/%d/appeal", rejected.ReviewID), map[string]any{"reason": "A 引用了规定"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	// The resubmission scores B on the persona's first rubric dimension, which the page names
	// by its label.
	var chain struct {
		PersonaID int64 `json:"persona_id"`
	}
	trainer.get(fmt.Sprintf("/api/v1/judgments/%d/revisions", first), &chain)
	var persona struct {
		Rubric []struct {
			Key      string `json:"key"`
			Label    string `json:"label"`
			ScaleMax int    `json:"scale_max"`
		} `json:"rubric"`
	}
	trainer.get(fmt.Sprintf("/api/v1/personas/%d", chain.PersonaID), &persona)
	require.NotEmpty(t, persona.Rubric, "the demo persona has a rubric")
	dim := persona.Rubric[0]
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/reworks/%d/judgment", rejected.ReviewID), map[string]any{"idempotency_key": "revisions-e2e-2",
		"ratings": map[string]any{fmt.Sprint(b.ID): map[string]int{dim.Key: dim.ScaleMax}},
		"ranking": [][]int64{{b.ID}, {a.ID}}, "edit": map[string]any{"candidate_id": b.ID, "content": "按规定，限额为五万元。"},
		"continue_from": map[string]any{"candidate_id": b.ID}, "time_spent_ms": 5000})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var resubmitted struct {
		JudgmentID int64 `json:"judgment_id"`
	}
	require.NoError(t, json.Unmarshal(body, &resubmitted))
	second := resubmitted.JudgmentID

	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	as := m.browserAs(t, ctx)

	// The review stream shows the resubmission with a link to its revisions; the appeals page
	// links the appealed judgment's.
	as("reviewer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/review", m.base, cid)),
		browsertest.Visible(fmt.Sprintf(`#review-page[data-judgment="%d"]:not([data-busy]) #review-panes .pane`, second)),
	))
	assert.Equal(t, fmt.Sprintf("#/judgments/%d/revisions", second), browsertest.Attr(t, ctx, "#review-revisions-link", "href"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/appeals", m.base, cid)),
		browsertest.Visible(fmt.Sprintf(`#appeals-page .appeal[data-review="%d"] a[data-role="revisions"]`, rejected.ReviewID)),
	))
	assert.Equal(t, fmt.Sprintf("#/judgments/%d/revisions", first),
		browsertest.Attr(t, ctx, fmt.Sprintf(`#appeals-page .appeal[data-review="%d"] a[data-role="revisions"]`, rejected.ReviewID), "href"))

	// The reviewer fixes and accepts the resubmission, extending the correction.
	status, body = reviewer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/reviews", cid), map[string]any{"judgment_id": second, "verdict": "fixed", "comment": "补上了依据",
		"fix": map[string]any{"idempotency_key": "revisions-e2e-fix", "ranking": [][]int64{{b.ID}, {a.ID}},
			"edit": map[string]any{"candidate_id": b.ID, "content": "按规定，限额为五万元（见第三条）。"}, "continue_from": map[string]any{"edit": true}, "time_spent_ms": 3000}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var me struct {
		User struct {
			DisplayName string `json:"display_name"`
		} `json:"user"`
	}
	reviewer.get("/api/v1/session", &me)
	require.NotEmpty(t, me.User.DisplayName)

	// The trainer opens the revisions from the rework entry on My work.
	as("trainer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(`#reworks li[data-state="resubmitted"] a[data-role="revisions"]`),
		chromedp.Click(chromedp.CSS(`#reworks li[data-state="resubmitted"] a[data-role="revisions"]`)),
		browsertest.Visible(`#revisions-page[data-count="3"] #revision-3`),
	))
	browsertest.Screenshot(t, ctx, "judgment-revisions")
	order, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#revisions-list .revision")].map((e) => e.dataset.seq + ":" + e.dataset.author)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"3:reviewer", "2:trainer", "1:trainer"}, order, "newest first, each attributed to its author")
	fix := browsertest.Text(t, ctx, "#revision-3")
	assert.Contains(t, fix, me.User.DisplayName, "the fix is attributed to the reviewer")
	assert.Contains(t, fix, "审核员")
	assert.Contains(t, browsertest.Text(t, ctx, "#revision-3-edit-diff .add"), "见第三条", "the correction's diff from the trainer's revision")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 [data-change="ranking"]`), "A > B → B > A")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 [data-change="score"]`), fmt.Sprintf("回答 B 的 %s：– → %d", dim.Label, dim.ScaleMax), "a score change, by the rubric's label")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 [data-role="marks"]`), fmt.Sprintf("%s %d", dim.Label, dim.ScaleMax))
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 .revision-decision[data-verdict="fixed"]`), "补上了依据")
	rejection := browsertest.Text(t, ctx, `#revision-1 .revision-decision[data-verdict="rejected"]`)
	for _, want := range []string{"排序错误", "B 的回答更准确", "A 引用了规定", "申诉待裁决"} {
		assert.Contains(t, rejection, want)
	}
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 [data-role="state"]`), "已被审核员的修正取代", "a fixed revision reads as superseded, not sent back")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-1 [data-role="state"]`), "已驳回")
	assert.False(t, strings.Contains(browsertest.Text(t, ctx, "#revisions-page"), "undefined"))

	// A judgment fixed and accepted without a rejection is not a rework: My work lists it
	// among the fixes, and its revisions are the trainer's and the reviewer's.
	direct := judgeNext(t, trainer, cid, "revisions-e2e-3")
	status, body = reviewer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/review/next", cid), nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var next struct {
		JudgmentID int64 `json:"judgment_id"`
		Judgment   struct {
			Ranking [][]int64 `json:"ranking"`
		} `json:"judgment"`
	}
	require.NoError(t, json.Unmarshal(body, &next))
	require.Equal(t, direct, next.JudgmentID)
	require.Len(t, next.Judgment.Ranking, 2)
	reversed := [][]int64{next.Judgment.Ranking[1], next.Judgment.Ranking[0]}
	status, body = reviewer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/reviews", cid), map[string]any{"judgment_id": direct, "verdict": "fixed", "comment": "顺序应当反过来",
		"fix": map[string]any{"idempotency_key": "revisions-e2e-fix-2", "ranking": reversed, "continue_from": map[string]any{"candidate_id": reversed[0][0]}, "time_spent_ms": 3000}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	fixOf := fmt.Sprintf(`#fixes li[data-judgment="%d"]`, direct)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(fixOf+` a[data-role="revisions"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, fixOf), "顺序应当反过来")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fixOf+` a[data-role="revisions"]`)),
		browsertest.Visible(`#revisions-page[data-count="2"] #revision-2[data-author="reviewer"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-2 [data-change="ranking"]`), "A > B → B > A")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-1 [data-role="state"]`), "已被审核员的修正取代")
}
