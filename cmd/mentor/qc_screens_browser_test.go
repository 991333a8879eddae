package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/review"
)

// addLead imports a lead of the demo base through the people import, as a project admin
// would, and makes their first password known to m's sign-in helpers.
func addLead(t *testing.T, m mentor, admin *person, login string) {
	t.Helper()
	status, body := admin.upload("/api/v1/projects/demo/people", nil, map[string][]byte{"people.csv": []byte(
		"login,name,base,role,lead\n" + login + ",基地组长," + review.DemoBase + ",trainer,是\n")})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var rep struct {
		Added []struct {
			Login    string `json:"login"`
			Password string `json:"password"`
		} `json:"added"`
	}
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Len(t, rep.Added, 1, "%s", body)
	require.NotEmpty(t, rep.Added[0].Password, "a new account's first password is in the answer")
	m.passwords[login] = rep.Added[0].Password
}

// TestQCScreensInChromium walks the quality-control screens through mentor serve in a real
// headless Chromium, as a lead, a reviewer and a trainer:
//   - the lead closes the demo base's batch from a picker of base names; the reviewer rejects
//     a judgment of its sample for the centre, which rejects the batch; the lead re-inspects
//     the rest of it on the re-inspection page until it says what happened;
//   - the trainer appeals the rejection; the reviewer who rejected sees the appeal but may not
//     decide it; the lead overturns it, and the trainer sees the decision on My work;
//   - the reviewer fixes and accepts a judgment in the review stream: the fix is a revision
//     of the reviewer's, shown beside the trainer's with the edit's diff, and the trainer's
//     revision is kept.
func TestQCScreensInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	began := time.Now()
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	addLead(t, m, admin, "lead")
	lead := m.signIn(t, "lead")
	work := demoCampaign(t, trainer, 4)
	cid := work.CampaignID
	j := []int64{judgeNext(t, trainer, cid, "qc-screens-1"), judgeNext(t, trainer, cid, "qc-screens-2"), judgeNext(t, trainer, cid, "qc-screens-3")}

	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	as := m.browserAs(t, ctx)
	ready := func() string {
		return `#review-page[data-judgment]:not([data-judgment=""]):not([data-busy]) #review-panes .pane`
	}
	shown := func() int64 {
		var id int64
		_, err := fmt.Sscan(browsertest.Attr(t, ctx, "#review-page", "data-judgment"), &id)
		require.NoError(t, err)
		return id
	}

	// The lead closes the batch, choosing the base by its name; a trainer is offered none.
	var offered struct {
		Bases []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"bases"`
	}
	trainer.get(fmt.Sprintf("/api/v1/campaigns/%d/batch-bases", cid), &offered)
	assert.Empty(t, offered.Bases, "the trainer leads no base")
	lead.get(fmt.Sprintf("/api/v1/campaigns/%d/batch-bases", cid), &offered)
	require.Len(t, offered.Bases, 1)
	assert.Equal(t, review.DemoBase, offered.Bases[0].Name)
	as("lead")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, cid)),
		browsertest.Visible("#qc-close-form select#qc-close-base"),
	))
	assert.Equal(t, review.DemoBase, browsertest.Text(t, ctx, "#qc-close-base option:checked"), "the picker names the base")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#qc-close")), browsertest.Visible(`#qc-batches tr[data-batch]`)))
	batchID := browsertest.Attr(t, ctx, `#qc-batches tr[data-batch]`, "data-batch")

	// The reviewer rejects the first judgment of the sample for the centre: at Ac 0, one
	// defect rejects the batch.
	as("reviewer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/batches/%s/inspect/centre", m.base, batchID)),
		browsertest.Visible(ready()),
	))
	rejected := shown()
	require.Contains(t, j, rejected)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#review-reason"), "wrong_ranking"),
		chromedp.SendKeys("#review-comment", "排序与规范相反"),
		chromedp.Focus("#review-accept"),
		chromedp.KeyEvent("2"),
		browsertest.Visible(`#review-done[data-verdict="rejected"]`),
		browsertest.Visible("#review-empty"),
	))

	// The lead re-inspects what is left of the rejected batch, from the QC page.
	as("lead")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, cid)),
		browsertest.Visible(`#qc-batches tr[data-centre="rejected"] a[data-role="reinspect"]`),
		chromedp.Click(chromedp.CSS(`a[data-role="reinspect"]`)),
		browsertest.Visible(ready()),
	))
	assert.Equal(t, "2", browsertest.Attr(t, ctx, "#review-page", "data-left"), "the two judgments the centre did not inspect")
	browsertest.Screenshot(t, ctx, "reinspect")
	var reinspected []int64
	for range 2 {
		require.NoError(t, chromedp.Do(ctx, browsertest.Visible(ready())))
		reinspected = append(reinspected, shown())
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("1"), browsertest.Visible(`#review-done[data-verdict="accepted"]`)))
	}
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#reinspect-done")))
	assert.Contains(t, browsertest.Text(t, ctx, "#reinspect-done"), "验收结果仍为“不合格”")
	assert.ElementsMatch(t, j, append(reinspected, rejected))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, cid)),
		browsertest.Visible(`#qc-batches tr[data-centre="rejected"] [data-role="reinspected"]`),
	))
	ids, _ := acceptedRows(t, admin, began)
	assert.Equal(t, jid(reinspected...), ids, "the re-inspected judgments are accepted; the rejected one is not")

	// The trainer appeals the rejection from the rework page.
	as("trainer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(`#reworks li[data-state="open"] a[data-role="rework"]`),
		chromedp.Click(chromedp.CSS(`#reworks a[data-role="rework"]`)),
		browsertest.Visible("#appeal-reason"),
		chromedp.SendKeys("#appeal-reason", "A 的回答引用了规定，排序没有错"),
		chromedp.Click(chromedp.CSS("#appeal-submit")),
		browsertest.Visible("#appeal-done"),
	))
	var reworks struct {
		Reworks []struct {
			ReviewID int64 `json:"review_id"`
		} `json:"reworks"`
	}
	trainer.get("/api/v1/reworks", &reworks)
	require.Len(t, reworks.Reworks, 1)
	appealed := reworks.Reworks[0].ReviewID

	// The reviewer who rejected sees the appeal with the judgment, but may not decide it.
	as("reviewer")
	card := fmt.Sprintf(`#appeals-page .appeal[data-review="%d"]`, appealed)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/appeals", m.base, cid)),
		browsertest.Visible(card+` [data-role="cannot"]`),
	))
	assert.Zero(t, browsertest.Count(t, ctx, card+` button[data-role="overturn"]`))
	assert.Contains(t, browsertest.Text(t, ctx, card), "这条评判是你驳回的")
	status, body := reviewer.call("PUT", fmt.Sprintf("/api/v1/appeals/%d", appealed), map[string]any{"decision": "overturned"})
	assert.Equal(t, http.StatusForbidden, status, "%s", body)
	detail := fmt.Sprintf("/api/v1/campaigns/%d/appeals/%d", cid, appealed)
	var seen struct {
		CanDecide bool `json:"can_decide"`
		Item      struct {
			JudgmentID int64 `json:"judgment_id"`
		} `json:"item"`
	}
	reviewer.get(detail, &seen)
	assert.False(t, seen.CanDecide, "the reviewer who rejected")
	assert.Equal(t, rejected, seen.Item.JudgmentID)
	lead.get(detail, &seen)
	assert.True(t, seen.CanDecide, "a lead of the trainer's base")
	status, body = trainer.call("GET", detail, nil)
	assert.Equal(t, http.StatusNotFound, status, "a trainer reviews nothing: %s", body)

	// The lead sees the trainer, the reason, the comment and the judgment, and overturns it.
	as("lead")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/appeals", m.base, cid)),
		browsertest.Visible(card+` #review-panes .pane`),
	))
	text := browsertest.Text(t, ctx, card)
	for _, want := range []string{"A 的回答引用了规定", "排序错误", "排序与规范相反", "回答 A"} {
		assert.Contains(t, text, want)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(card+` textarea[data-field="note"]`, "复核后排序无误"),
		chromedp.Click(chromedp.CSS(card+` button[data-role="overturn"]`)),
		browsertest.Visible(card+`[data-state="overturned"] [data-role="decided"]`),
	))
	browsertest.Screenshot(t, ctx, "appeal-decided")
	status, body = lead.call("GET", detail, nil)
	assert.Equal(t, http.StatusNotFound, status, "a decided appeal waits no more: %s", body)

	// The trainer sees the decision, with the lead's note, on My work.
	as("trainer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(`#reworks li[data-state="overturned"] .rework-decision[data-appeal="overturned"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, `#reworks li[data-state="overturned"]`), "复核后排序无误")
	ids, _ = acceptedRows(t, admin, began)
	assert.Equal(t, jid(j...), ids, "overturned, the rejected judgment is accepted too")

	// Fix and accept: the reviewer reverses the trainer's ranking and corrects reply B.
	j4 := judgeNext(t, trainer, cid, "qc-screens-4")
	as("reviewer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/review", m.base, cid)),
		browsertest.Visible(fmt.Sprintf(`#review-page[data-judgment="%d"]:not([data-busy]) #review-panes .pane`, j4)),
		// Escape closes the fix form without deciding; 4 opens it again.
		chromedp.KeyEvent("4"),
		browsertest.Visible("#review-fix-form select.rank"),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent("#review-fix-form"),
		chromedp.KeyEvent("4"),
		browsertest.Visible("#review-fix-form"),
		chromedp.SetValue(chromedp.CSS(`#review-fix-form select.rank[data-label="A"]`), "2"),
		chromedp.SetValue(chromedp.CSS(`#review-fix-form select.rank[data-label="B"]`), "1"),
	))
	candB := browsertest.Attr(t, ctx, `#review-fix-form select.rank[data-label="B"]`, "data-candidate")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#fix-edit-candidate"), candB),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#fix-edit-candidate").dispatchEvent(new Event("change"))`),
		browsertest.Visible(`#fix-edit-diff`),
	))
	original := browsertest.Value(t, ctx, "#fix-edit")
	require.NotEmpty(t, original, "correcting a reply starts from its text")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys("#fix-edit", "（已按规定核对限额。）"),
		browsertest.Visible(`#fix-edit-diff .add`),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#review-fix-submit")),
		browsertest.Visible(`#review-done[data-verdict="fixed"]`),
		browsertest.Visible("#review-revisions #revision-diff .add"),
	))
	browsertest.Screenshot(t, ctx, "review-fix")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-trainer [data-role="ranking"]`), "A > B")
	assert.Contains(t, browsertest.Text(t, ctx, `#revision-reviewer [data-role="ranking"]`), "B > A")
	assert.Contains(t, browsertest.Text(t, ctx, "#revision-diff .add"), "已按规定核对限额")
	fixed := browsertest.Attr(t, ctx, "#review-page", "data-fixed")

	// The fix is the reviewer's own revision; the trainer's is kept, and only the fix is
	// exported as accepted.
	conn, err := pgx.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var fixer, owner string
	var fixedRanking, trainerRanking string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT u.login, j.ranking::text FROM judgments j JOIN users u ON u.id = j.trainer_id WHERE j.id = $1`, fixed).Scan(&fixer, &fixedRanking))
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT u.login, j.ranking::text FROM judgments j JOIN users u ON u.id = j.trainer_id WHERE j.id = $1`, j4).Scan(&owner, &trainerRanking))
	assert.Equal(t, "reviewer", fixer, "the fix is attributed to the reviewer")
	assert.Equal(t, "trainer", owner)
	assert.NotEqual(t, trainerRanking, fixedRanking, "the trainer's ranking is kept as it was")
	ids, _ = acceptedRows(t, admin, began)
	var fixedID int64
	_, err = fmt.Sscan(fixed, &fixedID)
	require.NoError(t, err)
	assert.Equal(t, jid(append(append([]int64{}, j...), fixedID)...), ids, "the fix is accepted; the trainer's revision it supersedes is not")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("3"), browsertest.Visible("#review-empty")))
	assert.False(t, strings.Contains(browsertest.Text(t, ctx, "#review-page"), "undefined"))
}
