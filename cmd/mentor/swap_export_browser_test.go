package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestSideSwapsAndAgreementExportsInChromium: through mentor serve, a blind pairwise
// campaign with a swap rate deals side-swap repeats, which the trainers page shows; and
// the export page's "minimum item agreement" and "consensus" filters count and export
// exactly the pairs of the items the two trainers agreed on.
func TestSideSwapsAndAgreementExportsInChromium(t *testing.T) {
	m := startMentor(t, map[string]string{"MENTOR_START_TIMEOUT": "60s", "MENTOR_AGREEMENT_REFRESH": "1s"})
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	demo := demoCampaign(t, trainer, 1)
	var cp struct {
		Campaign campaign.Campaign `json:"campaign"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", demo.CampaignID), &cp)
	version := cp.Campaign.Plan[0].PromptVersionID

	// The reviewer judges too, as a second trainer of the demo base.
	status, body := admin.upload("/api/v1/projects/demo/people", nil,
		map[string][]byte{"people.csv": []byte("login,name,base,role\nreviewer,审核员 Reviewer,演示基地,reviewer\n")})
	require.Equal(t, http.StatusOK, status, "%s", body)

	const n = 16
	status, body = admin.call("POST", fmt.Sprintf("/api/v1/projects/%d/campaigns", cp.Campaign.ProjectID), map[string]any{
		"persona_id": cp.Campaign.PersonaID, "name": "盲评换位", "task_kind": "blind_pairwise", "k": 2,
		"plan":   []map[string]any{{"prompt_version_id": version, "model": "qwen-test"}, {"prompt_version_id": version, "model": "deepseek-test"}},
		"checks": map[string]any{"swap_rate": 0.5, "honeypot_rate": 0}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		Campaign campaign.Campaign `json:"campaign"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	id := created.Campaign.ID
	var items strings.Builder
	for i := range n {
		fmt.Fprintf(&items, "{\"question\": \"第 %d 个问题：行李里的物品要申报吗？\"}\n", i+1)
	}
	status, body = admin.upload(fmt.Sprintf("/api/v1/campaigns/%d/items", id), nil, map[string][]byte{"items.jsonl": []byte(items.String())})
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/state", id), map[string]any{"state": "open"})
	require.Equal(t, http.StatusOK, status, "%s", body)
	deadline := time.Now().Add(90 * time.Second)
	for {
		var w workList
		trainer.get("/api/v1/work", &w)
		i := slices.IndexFunc(w.Campaigns, func(c campaign.Work) bool { return c.CampaignID == id })
		if i >= 0 && w.Campaigns[i].Available >= n {
			break
		}
		require.True(t, time.Now().Before(deadline), "the blind campaign's candidates were not ready after 90 s")
		time.Sleep(100 * time.Millisecond) // readiness polling: generation runs on its own
	}

	// Both judge every item. The trainer prefers the first reply of each turn; the reviewer
	// agrees on even items and disagrees on odd ones. A repeat is answered as the original
	// was: both are consistent.
	agreed := map[string]bool{}
	repeats := map[string]int{}
	for _, p := range []*person{trainer, reviewer} {
		for {
			status, body := p.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", id), nil)
			if status == http.StatusNotFound {
				break
			}
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
			agree := c.Claim.ItemID%2 == 0
			if p == trainer {
				agreed[c.Claim.Question] = agree
			}
			if p == reviewer && !agree {
				a, b = b, a
			}
			if c.Claim.Swapped {
				repeats[p.login]++
			}
			status, body = p.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", c.Claim.ID), map[string]any{
				"idempotency_key": fmt.Sprintf("swap-%s-%d", p.login, c.Claim.ID), "ranking": [][]int64{{a}, {b}},
				"continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": 8000})
			require.Equal(t, http.StatusCreated, status, "%s", body)
		}
	}
	require.Len(t, agreed, n, "each item once as work")
	t.Logf("side-swap repeats dealt: %v", repeats)
	require.Positive(t, repeats["trainer"], "at a swap rate of 50%%, %d claims deal a repeat (the chance of none is under 1 in 5000)", n)

	// The statistics count the trainer's repeats, all consistent.
	var stats struct {
		Trainers []campaign.TrainerStats `json:"trainers"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d/trainer-stats", id), &stats)
	i := slices.IndexFunc(stats.Trainers, func(s campaign.TrainerStats) bool { return s.Login == "trainer" })
	require.GreaterOrEqual(t, i, 0)
	mine := stats.Trainers[i]
	assert.Equal(t, repeats["trainer"], mine.SwapRepeats)
	assert.Equal(t, repeats["trainer"], mine.SwapConsistent)
	assert.Equal(t, n, mine.Judgments, "repeats are not judgments")

	// The periodic refresh (every second here) gives each item its W.
	var ag struct {
		Agreement agreement.Report `json:"agreement"`
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		admin.get(fmt.Sprintf("/api/v1/campaigns/%d/agreement", id), &ag)
		if ag.Agreement.Items == n {
			break
		}
		require.True(t, time.Now().Before(deadline), "agreement for %d items after a minute: %+v", n, ag.Agreement)
		time.Sleep(200 * time.Millisecond) // readiness polling: the refresh runs on its own
	}

	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900), m.browserSignIn("admin")))

	// The trainers page shows the repeats: consistency and the count.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/trainers", m.base, id)),
		browsertest.Visible(fmt.Sprintf(`#quality-trainers tr[data-trainer="%d"] td[data-stat="swap"]`, mine.TrainerID)),
	))
	assert.Equal(t, fmt.Sprintf("100%% (%d/%d)", repeats["trainer"], repeats["trainer"]),
		browsertest.Text(t, ctx, fmt.Sprintf(`#quality-trainers tr[data-trainer="%d"] td[data-stat="swap"]`, mine.TrainerID)))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, id)),
		browsertest.Visible(fmt.Sprintf(`#qc-sections [data-section="swaps"] tr[data-trainer="%d"]`, mine.TrainerID)),
		browsertest.Visible(`#qc-sections [data-section="swaps"] .chart[data-drawn] svg`),
	))
	browsertest.Screenshot(t, ctx, "qc-swaps")

	// The export page: the trainer's pairs (one per item), then only the agreed items'.
	var want []string
	for q, ok := range agreed {
		if ok {
			want = append(want, q)
		}
	}
	slices.Sort(want)
	set := func(css, value, event string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SetValue(chromedp.CSS(css), value),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event(%q))`, css, event)))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(m.base+"/#/projects/demo/export"),
		browsertest.Visible("#export-format"),
		set("#export-format", "trl-dpo", "change"),
		set("#export-annotator", "trainer", "input"),
	))
	waitRows := func(rows string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, browsertest.Visible(fmt.Sprintf(`#export-count[data-state="done"][data-rows="%s"]`, rows))))
	}
	waitRows(fmt.Sprint(n))
	for _, tt := range []struct {
		name string
		on   chromedp.Action[chromedp.Void]
		off  chromedp.Action[chromedp.Void]
		shot string
	}{
		{name: "min_agreement", on: set("#export-min-agreement", "0.5", "input"), off: set("#export-min-agreement", "0", "input"), shot: "export-min-agreement"},
		{name: "consensus", on: chromedp.Steps(chromedp.Click(chromedp.CSS("#export-consensus"))), off: chromedp.Steps(chromedp.Click(chromedp.CSS("#export-consensus"))), shot: "export-consensus"},
	} {
		require.NoError(t, chromedp.Do(ctx, tt.on), tt.name)
		waitRows(fmt.Sprint(len(want)))
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#export-download")), browsertest.Visible("#export-file[data-snapshot]")), tt.name)
		browsertest.Screenshot(t, ctx, tt.shot)
		href := browsertest.Attr(t, ctx, "#export-file", "href")
		status, body := admin.call("GET", strings.TrimPrefix(href, m.base), nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
		var got []string
		for _, line := range splitLines(body) {
			var row struct {
				Prompt []struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"prompt"`
				Annotator string `json:"annotator"`
			}
			require.NoError(t, json.Unmarshal(line, &row))
			assert.Equal(t, "trainer", row.Annotator)
			got = append(got, row.Prompt[len(row.Prompt)-1].Content)
		}
		slices.Sort(got)
		assert.Equal(t, want, got, "%s: exactly the agreed items' pairs", tt.name)
		require.NoError(t, chromedp.Do(ctx, tt.off, chromedp.WaitNotVisible("#export-file")), tt.name)
		waitRows(fmt.Sprint(n))
	}
}
