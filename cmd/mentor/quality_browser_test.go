package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/review"
)

// judgeNext claims the next item of a campaign as p and judges it (A over B), returning the
// judgment's id.
func judgeNext(t *testing.T, p *person, campaignID int64, key string) int64 {
	t.Helper()
	status, body := p.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", campaignID), nil)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var c claimAnswer
	require.NoError(t, json.Unmarshal(body, &c))
	var turn struct {
		Turn struct {
			Candidates []struct {
				ID int64 `json:"id"`
			} `json:"candidates"`
		} `json:"turn"`
	}
	p.get(fmt.Sprintf("/api/v1/turns/%d", c.Claim.TurnID), &turn)
	require.Len(t, turn.Turn.Candidates, 2)
	a, b := turn.Turn.Candidates[0].ID, turn.Turn.Candidates[1].ID
	status, body = p.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", c.Claim.ID), map[string]any{"idempotency_key": key,
		"ranking": [][]int64{{a}, {b}}, "continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": 4000})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var res struct {
		JudgmentID int64 `json:"judgment_id"`
	}
	require.NoError(t, json.Unmarshal(body, &res))
	return res.JudgmentID
}

// acceptedRows exports the demo project's rankings with "accepted only" and returns the rows'
// ids (j_<judgment>) and the manifest's QC state. The demo campaign's candidates are the offline
// baselines', so they are included.
//
// since leaves out what the demo load made before the test began: the leaderboard's simulated
// votes are accepted judgments of the demo project too.
func acceptedRows(t *testing.T, p *person, since time.Time) ([]string, map[string]any) {
	t.Helper()
	status, body := p.call("POST", "/api/v1/projects/demo/exports", map[string]any{"format": "rankings", "accepted_only": true, "include_baseline": true,
		"from": since.UTC().Format(time.RFC3339Nano)})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		DownloadURL string `json:"download_url"`
		Manifest    struct {
			QC map[string]any `json:"qc"`
		} `json:"manifest"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	status, body = p.call("GET", created.DownloadURL, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var ids []string
	for _, line := range splitLines(body) {
		var row struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(line, &row))
		ids = append(ids, row.ID)
	}
	slices.Sort(ids)
	return ids, created.Manifest.QC
}

func splitLines(b []byte) (out [][]byte) {
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func jid(ids ...int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("j_%d", id)
	}
	slices.Sort(out)
	return out
}

// TestQualityControlInChromium is issue 14's review and acceptance through mentor serve in
// a real headless Chromium: the admin closes the demo base's batch of two judgments, the
// reviewer inspects its sample for the centre and the batch is accepted, so an "accepted
// only" export has exactly those rows; then the reviewer rejects a third judgment, the
// trainer sees it on My work, reworks and resubmits it, and the reviewer accepts the new
// revision.
func TestQualityControlInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	began := time.Now()
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	work := demoCampaign(t, trainer, 3)
	j1, j2 := judgeNext(t, trainer, work.CampaignID, "qc-e2e-judgment-1"), judgeNext(t, trainer, work.CampaignID, "qc-e2e-judgment-2")
	var bases struct {
		Bases []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"bases"`
	}
	admin.get("/api/v1/bases", &bases)
	i := slices.IndexFunc(bases.Bases, func(b struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}) bool {
		return b.Name == review.DemoBase
	})
	require.GreaterOrEqual(t, i, 0, "serve --dev puts the demo trainer in the demo base")
	baseID := bases.Bases[i].ID

	ctx := browsertest.New(t, 4*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	signInAs := func(login string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx,
			m.browserSignIn(login),
		))
	}
	signOut := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
	}
	ready := func(judgment int64) string {
		return fmt.Sprintf(`#review-page[data-judgment="%d"]:not([data-busy]) #review-panes .pane`, judgment)
	}

	// The admin closes the base's batch on the QC page: two judgments, inspected 100% (the
	// plan's sample is larger than the lot).
	signInAs("admin")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, work.CampaignID)),
		browsertest.Visible("#qc-close-form"),
		chromedp.SetValue(chromedp.CSS("#qc-close-base"), fmt.Sprint(baseID)),
		chromedp.Click(chromedp.CSS("#qc-close")),
		browsertest.Visible(`#qc-batches tr[data-batch]`),
	))
	batchID := browsertest.Attr(t, ctx, `#qc-batches tr[data-batch]`, "data-batch")
	var batch struct {
		Batch struct {
			LotSize        int    `json:"lot_size"`
			SampleSize     int    `json:"sample_size"`
			Accept         int    `json:"ac"`
			Reject         int    `json:"re"`
			Seed           int64  `json:"seed"`
			FullInspection bool   `json:"-"`
			CentreResult   string `json:"centre_result"`
		} `json:"batch"`
		Sample []struct {
			JudgmentID int64 `json:"judgment_id"`
		} `json:"sample"`
	}
	admin.get("/api/v1/batches/"+batchID, &batch)
	assert.Equal(t, 2, batch.Batch.LotSize)
	assert.Equal(t, 2, batch.Batch.SampleSize, "a lot of 2 at AQL 1.0: the plan's 13 is more than the lot, so all of it")
	assert.Equal(t, []int{0, 1}, []int{batch.Batch.Accept, batch.Batch.Reject})
	assert.NotZero(t, batch.Batch.Seed, "the draw's seed is recorded")
	sampled := []int64{batch.Sample[0].JudgmentID, batch.Sample[1].JudgmentID}
	assert.ElementsMatch(t, []int64{j1, j2}, sampled)
	signOut()

	// The reviewer inspects the sample for the centre by keyboard: 1 accepts.
	signInAs("reviewer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/batches/%s/inspect/centre", m.base, batchID)),
		browsertest.Visible("#review-panes .pane"),
	))
	for _, id := range sampled {
		// The sample is inspected in draw order; the screen is ready for a key once it has the
		// judgment and is not busy loading or sending.
		require.NoError(t, chromedp.Do(ctx, browsertest.Visible(ready(id)), chromedp.KeyEvent("1")))
	}
	// With nothing left to inspect, the decision form goes: its buttons could only fail.
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#review-empty"), chromedp.WaitNotVisible("#review-actions")))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, work.CampaignID)),
		browsertest.Visible(`#qc-batches tr[data-centre="accepted"]`),
		browsertest.Visible(`#qc-sections [data-section="batches"] .chart svg`),
	))
	browsertest.Screenshot(t, ctx, "qc-dashboard")
	ids, qc := acceptedRows(t, admin, began)
	assert.Equal(t, jid(j1, j2), ids, "accepted only: exactly the accepted batch's rows")
	assert.EqualValues(t, 2, qc["accepted"])

	// A third judgment is rejected in the review stream, with a reason and a comment.
	j3 := judgeNext(t, trainer, work.CampaignID, "qc-e2e-judgment-3")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/review", m.base, work.CampaignID)),
		// The accepted batch left the stream: the new judgment is next.
		browsertest.Visible(ready(j3)),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#review-reason"), "careless"),
		chromedp.SendKeys("#review-comment", "两个回答都没有核对限额，请重新比较"),
		chromedp.Focus("#review-accept"),
		chromedp.KeyEvent("2"),
		browsertest.Visible(`#review-page:not([data-busy])`),
		browsertest.Visible(`#review-done[data-verdict="rejected"]`),
		browsertest.Visible("#review-empty"),
	))
	signOut()

	// The trainer finds it on My work, with the reason and the comment, and resubmits it.
	signInAs("trainer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(`#reworks li[data-state="open"]`),
	))
	item := browsertest.Text(t, ctx, `#reworks li[data-state="open"]`)
	assert.Contains(t, item, "敷衍草率")
	assert.Contains(t, item, "请重新比较")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#reworks a[data-role="rework"]`)),
		browsertest.Visible("#rework-page select.rank"),
		chromedp.SetValue(chromedp.CSS(`#rework-page select.rank[data-label="A"]`), "2"),
		chromedp.SetValue(chromedp.CSS(`#rework-page select.rank[data-label="B"]`), "1"),
		chromedp.Click(chromedp.CSS("#rework-submit")),
		browsertest.Visible("#rework-done"),
	))
	var reworks struct {
		Reworks []struct {
			ReviewID      int64  `json:"review_id"`
			JudgmentID    int64  `json:"judgment_id"`
			State         string `json:"state"`
			ResubmittedID *int64 `json:"resubmitted_id"`
		} `json:"reworks"`
	}
	trainer.get("/api/v1/reworks", &reworks)
	require.Len(t, reworks.Reworks, 1)
	rw := reworks.Reworks[0]
	assert.Equal(t, j3, rw.JudgmentID)
	assert.Equal(t, "resubmitted", rw.State)
	require.NotNil(t, rw.ResubmittedID)
	j3b := *rw.ResubmittedID
	// One appeal per rejection: the second is refused, naming the field.
	status, body := trainer.call("POST", fmt.Sprintf("/api/v1/reworks/%d/appeal", rw.ReviewID), map[string]any{"reason": "我核对过限额"})
	assert.Equal(t, http.StatusCreated, status, "%s", body)
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/reworks/%d/appeal", rw.ReviewID), map[string]any{"reason": "再申诉一次"})
	assert.Equal(t, http.StatusBadRequest, status, "%s", body)
	assert.Equal(t, "review_id", decodeError(t, body).Error.Field)
	var appeals struct {
		Appeals []struct {
			ReviewID int64  `json:"review_id"`
			Reason   string `json:"reason"`
		} `json:"appeals"`
	}
	reviewer.get(fmt.Sprintf("/api/v1/campaigns/%d/appeals", work.CampaignID), &appeals)
	require.Len(t, appeals.Appeals, 1)
	assert.Equal(t, "我核对过限额", appeals.Appeals[0].Reason)
	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/appeals/%d", rw.ReviewID), map[string]any{"decision": "upheld", "note": "限额确实没有核对"})
	assert.Equal(t, http.StatusOK, status, "%s", body)
	signOut()

	// The reviewer sees the resubmission, marked as rework, and accepts it.
	signInAs("reviewer")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/review", m.base, work.CampaignID)),
		browsertest.Visible(ready(j3b)),
		browsertest.Visible("#review-rework"),
	))
	browsertest.Screenshot(t, ctx, "review-resubmission")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("1"), browsertest.Visible(`#review-done[data-verdict="accepted"]`), browsertest.Visible("#review-empty")))

	ids, qc = acceptedRows(t, admin, began)
	assert.Equal(t, jid(j1, j2, j3b), ids, "the batch's rows and the accepted resubmission; the rejected revision is replaced")
	assert.EqualValues(t, 3, qc["accepted"])
	assert.EqualValues(t, 1, qc["accepted_share"])
}
