package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestSwitchingRulesInChromium walks the QC page's switching rules through mentor serve in
// a real headless Chromium. The base's earlier batches are written as the centre decided
// them (as TestSwitchingThroughBatches does); every state on the page is the one the server
// computes from them:
//   - a lead sees the setting as text and no note buttons;
//   - the admin turns reduced inspection on: ten accepted batches (switching score 30) put
//     the base on reduced inspection; "production irregular", confirmed, returns it to normal,
//     and the note is listed under the base, there and after a reload;
//   - a note the server refuses (the base went to tightened meanwhile) shows its message;
//   - driven to discontinued, closing its batch is refused and the page offers to resume;
//     resumed, the base is on tightened inspection and a batch closes again.
func TestSwitchingRulesInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	trainer, admin := m.signIn(t, "trainer"), m.signIn(t, "admin")
	addLead(t, m, admin, "lead")
	lead := m.signIn(t, "lead")
	cid := demoCampaign(t, trainer, 2).CampaignID
	var offered struct {
		Bases []struct {
			ID int64 `json:"id"`
		} `json:"bases"`
	}
	lead.get(fmt.Sprintf("/api/v1/campaigns/%d/batch-bases", cid), &offered)
	require.Len(t, offered.Bases, 1)
	base := offered.Bases[0].ID
	settingsPath := fmt.Sprintf("/api/v1/campaigns/%d/qc/settings", cid)
	status, body := admin.call("PUT", settingsPath, map[string]any{"aql": "1.0", "batch_every": 50})
	require.Equal(t, http.StatusOK, status, "%s", body)

	conn, err := pgx.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var adminID int64
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT id FROM users WHERE login = 'admin'`).Scan(&adminID))
	// past writes the base's next batches as the centre decided them: lots of 1000 at AQL 1.0
	// (n 80, Ac 2) with no defect found, so each accepted one adds 3 to the switching score.
	seq := 0
	past := func(severity, result string, n int) {
		t.Helper()
		for range n {
			seq++
			_, err := conn.Exec(context.Background(), `INSERT INTO batches (campaign_id, base_id, seq, lot_size, aql, severity, code_letter, plan_letter,
					sample_size, ac, re, seed, centre_result, closed_by, closed_at)
				VALUES ($1, $2, $3, 1000, '1.0', $4, 'J', 'J', 80, 2, 3, 1, $5, $6, now())`, cid, base, seq, severity, result, adminID)
			require.NoError(t, err)
		}
	}
	past("normal", "accepted", 10)

	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	as := m.browserAs(t, ctx)
	qc := fmt.Sprintf("%s/#/campaigns/%d/qc", m.base, cid)
	card := fmt.Sprintf(`#qc-switching .qc-switching[data-base="%d"]`, base)

	// The lead reads where the base stands, and may change nothing.
	as("lead")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(qc), browsertest.Visible(card+`[data-state="normal"]`)))
	assert.Equal(t, "本任务不允许放宽检验", browsertest.Text(t, ctx, "#qc-reduced"))
	assert.Zero(t, browsertest.Count(t, ctx, "#qc-reduced-toggle"))
	assert.Zero(t, browsertest.Count(t, ctx, card+" button"), "a lead records no note")
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="score"]`), "转移得分 30")
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="next"]`), "须先在本任务中允许放宽检验")

	// The admin allows reduced inspection: the score of 30 switches the base to reduced.
	as("admin")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(qc),
		browsertest.Visible(card+`[data-state="normal"]`),
		chromedp.Click(chromedp.CSS("#qc-reduced-toggle")),
		browsertest.Visible(`#qc-reduced[data-allowed="true"] #qc-reduced-toggle:checked`),
		browsertest.Visible(card+`[data-state="reduced"]`),
	))
	var settings struct {
		ReducedAllowed bool `json:"reduced_allowed"`
		BatchEvery     *int `json:"batch_every"`
	}
	admin.get(settingsPath, &settings)
	assert.True(t, settings.ReducedAllowed)
	if assert.NotNil(t, settings.BatchEvery, "the toggle keeps the other settings") {
		assert.Equal(t, 50, *settings.BatchEvery)
	}
	assert.Equal(t, "放宽检验", browsertest.Text(t, ctx, card+` [data-role="state"]`))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="reason"]`), "转移得分达到 30（自第 10 批之后）")
	browsertest.Screenshot(t, ctx, "switching-reduced")

	// Production irregular: the confirmation says what will happen; confirmed, normal again.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(card+` button[data-role="note-irregular"]`)),
		browsertest.Visible(card+` [data-role="confirming"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="confirming"]`), "将从放宽检验恢复为正常检验")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(card+` textarea[data-field="note"]`, "基地停工两周"),
		chromedp.Click(chromedp.CSS(card+` button[data-role="confirm"]`)),
		browsertest.Visible(card+`[data-state="normal"] [data-role="recorded"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="recorded"]`), "现在：正常检验")
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="reason"]`), "生产变得不稳定")
	var note string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT note FROM inspection_notes WHERE campaign_id = $1 AND base_id = $2 AND kind = 'irregular'`, cid, base).Scan(&note))
	assert.Equal(t, "基地停工两周", note)
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="notes"] li[data-kind="irregular"]`), "记录生产不稳定（第 10 批之后）：基地停工两周")

	// Meanwhile two batches are rejected: the base is on tightened inspection, so the
	// irregularity the page still offers is refused, and the page says why.
	past("normal", "rejected", 2)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(card+` button[data-role="note-irregular"]`)),
		chromedp.Click(chromedp.CSS(card+` button[data-role="confirm"]`)),
		browsertest.Visible(card+` [data-role="status"] .error`),
	))
	refused := browsertest.Text(t, ctx, card+` [data-role="status"] .error`)
	assert.Contains(t, refused, "kind")
	assert.Contains(t, refused, "生产不稳定只影响正常检验和放宽检验")

	// Five rejected on tightened inspection: discontinued. Closing a batch is refused until
	// the admin resumes the inspection; then it is tightened, and a batch closes.
	past("tightened", "rejected", 5)
	judgeNext(t, trainer, cid, "switching-1")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(m.base+"/#/"),
		chromedp.Navigate(qc),
		browsertest.Visible(card+`[data-state="discontinued"] [data-role="closing-refused"]`),
		browsertest.Visible(card+` button[data-role="note-resumed"]`),
	))
	assert.Zero(t, browsertest.Count(t, ctx, card+` button[data-role="note-irregular"]`))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="notes"] li[data-kind="irregular"]`), "基地停工两周", "the page lists the notes recorded before")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#qc-close")),
		browsertest.Visible(`#qc-close-form .error`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, `#qc-close-form .error`), "检验已暂停")
	browsertest.Screenshot(t, ctx, "switching-discontinued")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(card+` button[data-role="note-resumed"]`)),
		browsertest.Visible(card+` [data-role="confirming"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="confirming"]`), "从加严检验开始")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(card+` button[data-role="confirm"]`)),
		browsertest.Visible(card+`[data-state="tightened"] [data-role="recorded"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, card+` [data-role="recorded"]`), "现在：加严检验")
	assert.Zero(t, browsertest.Count(t, ctx, card+" button"), "tightened inspection takes no note")
	assert.Equal(t, 2, browsertest.Count(t, ctx, card+` [data-role="notes"] li`), "the resumption, then the irregularity")
	assert.Equal(t, "resumed", browsertest.Attr(t, ctx, card+` [data-role="notes"] li`, "data-kind"))
	browsertest.Screenshot(t, ctx, "switching-resumed")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#qc-close")),
		browsertest.Visible(`#qc-batches tbody tr:nth-child(18)`),
	))
	var dash struct {
		Switching struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"switching"`
		Batches []struct {
			Severity string `json:"severity"`
		} `json:"batches"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d/qc?base=%d", cid, base), &dash)
	assert.Equal(t, "tightened", dash.Switching.State)
	require.Len(t, dash.Batches, 18)
	assert.Equal(t, "tightened", dash.Batches[17].Severity, "the batch after resuming is inspected on tightened inspection")
}
