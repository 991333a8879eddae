package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestMyWorkInChromium is the trainer's campaign work in a real headless Chromium against
// mentor serve: open My work, start the demo campaign, judge three items in a row by
// keyboard (each next item is on screen at once, focus on A), reload in the middle of an
// item and get the same claim back, and skip one.
func TestMyWorkInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	trainer := m.signIn(t, "trainer")
	work := demoCampaign(t, trainer, 6) // enough ready items for three judged, one resumed, one skipped
	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("trainer"),
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(fmt.Sprintf(`.work-card[data-campaign="%d"]`, work.CampaignID)),
	))
	assert.Equal(t, "0", browsertest.Text(t, ctx, `.work-card [data-count="today"]`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.work-card [data-role="start"]`)),
		browsertest.Visible(`#work-panes .pane[data-label="A"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#work-guidelines"), "标注规范")
	// The guidelines are markdown, rendered: a heading and a numbered list, not "##" and "1.".
	assert.Equal(t, 2, browsertest.Count(t, ctx, "#work-guidelines .guidelines-text h2"), "the guidelines' headings are rendered")
	assert.Equal(t, 3, browsertest.Count(t, ctx, "#work-guidelines .guidelines-text ol > li"), "the guidelines' list is rendered")
	assert.NotContains(t, browsertest.Text(t, ctx, "#work-guidelines"), "##")

	press := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(k)))
		}
	}
	focused := func() string {
		label, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement?.dataset?.label ?? ""`))
		return label
	}
	claimOnScreen := func() string { return browsertest.Attr(t, ctx, ".work-session", "data-claim") }
	seen := map[string]bool{}
	scored := ""
	for i := range 3 {
		claim := claimOnScreen()
		require.NotEmpty(t, claim)
		assert.False(t, seen[claim], "item %d: a new claim each time", i+1)
		seen[claim] = true
		require.Eventually(t, func() bool { return focused() == "A" }, 10*time.Second, 20*time.Millisecond, "item %d: focus on A", i+1)
		if i == 0 {
			// s scores A's rubric by keyboard, one dimension after another, as on the train
			// screen: 4 for the first, 5 for the second; a digit off the 1–5 scale changes nothing.
			press("s", "4", "9", "5", kb.Escape)
			assert.Equal(t, "4", browsertest.Value(t, ctx, `.pane[data-label="A"] .rating[data-index="1"] select`))
			assert.Equal(t, "5", browsertest.Value(t, ctx, `.pane[data-label="A"] .rating[data-index="2"] select`))
			assert.Empty(t, browsertest.Attr(t, ctx, `.pane[data-label="A"]`, "data-mode"), "Esc ends score mode")
			scored = claim
		}
		// A second, B first; then submit by keyboard.
		press("2", kb.ArrowRight, "1")
		start := time.Now()
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(kb.ModifierCtrl, kb.ModifierShift))))
		require.Eventually(t, func() bool { return claimOnScreen() != claim }, 10*time.Second, 20*time.Millisecond, "item %d: the next item comes", i+1)
		// Logged, not asserted (wall-clock time depends on the machine): submit included.
		t.Logf("item %d: submit to the next item on screen within %v", i+1, time.Since(start))
		assert.Equal(t, "A", focused(), "item %d: the next item is on screen with the keyboard on A", i+1)
	}
	// The next item shows before the server has the judgment (it is sent behind it), so the
	// counter reaches 3 when the last submit is in, a moment after the item is on screen.
	require.Eventually(t, func() bool { return strings.Contains(browsertest.Text(t, ctx, "#work-counter"), "3") }, 10*time.Second, 20*time.Millisecond,
		"the counter counts the three submitted judgments")

	// Reload in the middle of an item: the same claim, and what was ranked, come back.
	before := claimOnScreen()
	press("1")
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible(`#work-panes .pane[data-label="A"]`)))
	assert.Equal(t, before, claimOnScreen(), "a reload resumes the open claim")
	assert.Equal(t, "1", browsertest.Value(t, ctx, `.pane[data-label="A"] select.rank`), "the draft survives the reload")

	// Skip it.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#work-skip-reason"), "needs_expertise"),
		chromedp.Click(chromedp.CSS("#work-skip")),
	))
	require.Eventually(t, func() bool { return claimOnScreen() != before }, 10*time.Second, 20*time.Millisecond, "a skip shows the next item")

	// The keyboard's scores are in the stored judgment: the first two dimensions of A.
	pool, err := db.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	defer pool.Close()
	var ratings int
	scoredID, err := strconv.ParseInt(scored, 10, 64)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM claims cl JOIN judgments j ON j.id = cl.judgment_id,
		jsonb_each(j.ratings) AS c(candidate, dims), jsonb_each(c.dims) AS d(dim, v) WHERE cl.id = $1`, scoredID).Scan(&ratings))
	assert.Equal(t, 2, ratings, "the two keyboard scores are stored with the judgment")

	var after workList
	trainer.get("/api/v1/work", &after)
	require.Len(t, after.Campaigns, 1)
	assert.Equal(t, 3, after.Campaigns[0].Today)
	assert.Equal(t, 1, after.Campaigns[0].Skipped)
	var open struct {
		Claims []struct {
			ID int64 `json:"id"`
		} `json:"claims"`
	}
	trainer.get(fmt.Sprintf("/api/v1/campaigns/%d/claims", work.CampaignID), &open)
	for _, c := range open.Claims {
		assert.NotEqual(t, before, strconv.FormatInt(c.ID, 10), "the skipped claim is closed")
	}
}

// TestCampaignSetUpInChromium is the admin's side: on the project's campaign page, create a
// campaign, import a file with a bad line, see the report, and open the campaign.
func TestCampaignSetUpInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	file := filepath.Join(t.TempDir(), "items.jsonl")
	require.NoError(t, os.WriteFile(file, []byte("{\"question\": \"行李里的茶叶要申报吗？\"}\n{\"question\": \"\"}\n"), 0o600))
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("admin"),
		chromedp.Navigate(m.base+"/#/projects/demo"),
		browsertest.Visible("#campaigns-link"),
		chromedp.Click(chromedp.CSS("#campaigns-link")),
		browsertest.Visible(".campaign-card"),
		browsertest.Visible("#campaign-plan .plan-entry"),
		chromedp.SendKeys("#campaign-name", "第二批：行李"),
		chromedp.Click(chromedp.CSS("#campaign-create")),
		browsertest.Visible(`.campaign-card[data-state="draft"]`),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(`.campaign-card[data-state="draft"] input[data-role="items"]`, []string{file}),
		browsertest.Visible(`.campaign-card[data-state="draft"] .import-errors li`),
	))
	report := browsertest.Text(t, ctx, `.campaign-card[data-state="draft"] .campaign-status`)
	assert.Contains(t, report, "已添加 1 题")
	assert.Contains(t, report, "第 2 行，question：不能为空")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.campaign-card[data-state="draft"] button[data-to="open"]`))))
	require.Eventually(t, func() bool { return browsertest.Count(t, ctx, `.campaign-card[data-state="open"]`) == 2 }, 10*time.Second,
		20*time.Millisecond, "the new campaign opens beside the demo one")
	assert.Zero(t, browsertest.Count(t, ctx, `.campaign-card[data-state="draft"]`))
}

// TestBasesInChromium is an admin giving a campaign to labelling bases from the campaign
// page: create a base, admit it to the project, import people into another base by CSV (the
// import creates and admits it), then create a campaign given to both, one with a share
// quota, and see the quotas on its card. A share over 100% is refused beside its base.
func TestBasesInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	m := startMentor(t, slowStart)
	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	people := filepath.Join(t.TempDir(), "people.csv")
	require.NoError(t, os.WriteFile(people, []byte("账号,姓名,基地,角色,组长\nyj-01,王芳,宜君,trainer,是\nyj-02,李强,宜君,trainer,\n"), 0o600))
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("admin"),
		chromedp.Navigate(m.base+"/#/projects/demo/campaigns"),
		browsertest.Visible("#bases-card #new-base"),
		browsertest.Visible("#campaign-bases"),
	))
	// `serve --dev` admits the demo base (演示基地), where the demo trainer works; it is the
	// only choice so far.
	assert.Contains(t, browsertest.Text(t, ctx, "#campaign-bases"), "演示基地")
	assert.Equal(t, 1, browsertest.Count(t, ctx, "#campaign-bases .base-pick"))

	// A new base, then admitted: it becomes a choice in the campaign form.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys("#base-name", "积石山"),
		chromedp.Click(chromedp.CSS("#base-create")),
		browsertest.Visible(`#bases-table tr[data-admitted="false"] button[data-role="admit"]`),
		chromedp.Click(chromedp.CSS(`#bases-table tr[data-admitted="false"] button[data-role="admit"]`)),
		browsertest.Visible(`#bases-table tr[data-admitted="true"]`),
		browsertest.Visible(`#campaign-bases .base-pick`),
	))
	// People by CSV: their base is created and admitted by the import.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles("#people-file", []string{people}),
		browsertest.Visible("#people-status p"),
	))
	require.Eventually(t, func() bool { return browsertest.Count(t, ctx, "#campaign-bases .base-pick") == 3 }, 10*time.Second, 20*time.Millisecond,
		"the imported people's base is a choice too")
	assert.Contains(t, browsertest.Text(t, ctx, "#bases-table"), "宜君")

	// Give the campaign to both: 积石山 at 150% first (refused beside it), then 40%; 宜君 at
	// 5 judgments.
	pick := func(name, kind, amount string) {
		t.Helper()
		row := fmt.Sprintf(`#campaign-bases .base-pick[data-base="%s"]`, baseID(t, ctx, name))
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(row+" select"), kind)))
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event("change"))`, row+" select")))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(row+` [data-role="quota-amount"]`), amount)))
	}
	pick("积石山", "share", "150")
	pick("宜君", "items", "5")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys("#campaign-name", "第三批：基地"),
		chromedp.Click(chromedp.CSS("#campaign-create")),
		browsertest.Visible(`#campaign-bases .field-error`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#campaign-bases .field-error"), "100%")
	// 宜君 sorts first, so 积石山 is bases[1] in the request: the error names it so.
	share := fmt.Sprintf(`#campaign-bases .base-pick[data-base="%s"] [data-role="quota-amount"]`, baseID(t, ctx, "积石山"))
	assert.Equal(t, "bases[1].quota_share", browsertest.Attr(t, ctx, share, "data-field"))
	assert.Equal(t, "true", browsertest.Attr(t, ctx, share, "aria-invalid"), "the refusal is beside the share it names")
	pick("积石山", "share", "40")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#campaign-create")),
		browsertest.Visible(`.campaign-card[data-state="draft"] .campaign-bases`),
	))
	assert.Zero(t, browsertest.Count(t, ctx, "#new-campaign .field-error"), "the refusal is gone once the campaign is made")
	assert.Contains(t, browsertest.Text(t, ctx, `.campaign-card[data-state="draft"]`), "k = 3", "the new card keeps its task line")
	quotas := browsertest.Text(t, ctx, `.campaign-card[data-state="draft"] .campaign-bases`)
	assert.Contains(t, quotas, "积石山：已用 0，配额 40%")
	assert.Contains(t, quotas, "宜君：已用 0，配额 5")
	browsertest.Screenshot(t, ctx, "bases")
}

// baseID is the id of the base named name in the page's bases table.
func baseID(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`[...document.querySelectorAll("#bases-table tbody tr")].find((r) => r.cells[0].textContent === %q)?.dataset.base ?? ""`, name)))
	require.NoError(t, err)
	require.NotEmpty(t, id, "base %s in the table", name)
	return id
}
