package main

import (
	"context"
	"fmt"
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

// TestLiveWorkInChromium is a trainer on a live campaign's work screen in headless Chromium
// against mentor serve: the first item's candidates stream into the panes side by side (the
// upstream holds one mid-way), a submit while one streams is refused with the reason, and
// once they finish the trainer ranks by keyboard and submits; the next item, streamed while
// held ahead, is on screen at once with the keyboard on A, and is judged too.
func TestLiveWorkInChromium(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	up := newLiveUpstream(t)
	env := map[string]string{"OPENAI_BASE_URL": up.srv.URL + "/v1"}
	for k, v := range slowStart {
		env[k] = v
	}
	m := startMentor(t, env)
	trainer, admin := m.signIn(t, "trainer"), m.signIn(t, "admin")
	demo := demoCampaign(t, trainer, 1)
	c := liveCampaign(t, admin, demo, "实时任务：行李", 1, "等一等：行李里的茶叶要申报吗？", "带两瓶白酒入境要申报吗？", "邮寄的化妆品要交税吗？")

	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("trainer"),
		chromedp.Click(chromedp.CSS("#nav-work")),
		browsertest.Visible(fmt.Sprintf(`.work-card[data-campaign="%d"] [data-role="start"]`, c.ID)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`.work-card[data-campaign="%d"] [data-role="start"]`, c.ID))),
		browsertest.Visible(`#work-panes .pane[data-label="B"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#work-question"), "等一等")
	// One reply is held by the upstream after its first piece: it is on screen, streaming,
	// beside the other.
	require.Eventually(t, func() bool {
		return browsertest.Count(t, ctx, `#work-panes .pane[data-status="streaming"]`) == 1 &&
			strings.Contains(browsertest.Text(t, ctx, `#work-panes .pane[data-status="streaming"] [data-role="body"]`), "根据规定")
	}, 20*time.Second, 20*time.Millisecond, "a reply streams into its pane")
	browsertest.Screenshot(t, ctx, "i13live-streaming")
	press := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(k)))
		}
	}
	submit := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(kb.ModifierCtrl, kb.ModifierShift))))
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(`.pane[data-label="A"]`)))
	press("1", kb.ArrowRight, "2")
	submit()
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(".work-session .field-error")))
	assert.Contains(t, browsertest.Text(t, ctx, ".work-session .field-error"), "生成中", "a submit while a reply streams is refused, saying why")

	close(up.release)
	require.Eventually(t, func() bool { return browsertest.Count(t, ctx, `#work-panes .pane[data-status="complete"]`) == 2 },
		20*time.Second, 20*time.Millisecond, "both replies finish on screen")
	assert.Contains(t, browsertest.Text(t, ctx, `#work-panes .pane[data-label="A"] [data-role="body"]`), "海关予以免征")
	claimOnScreen := func() string { return browsertest.Attr(t, ctx, ".work-session", "data-claim") }
	focused := func() string {
		label, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement?.dataset?.label ?? ""`))
		return label
	}
	for i := range 2 {
		claim := claimOnScreen()
		require.NoError(t, chromedp.Do(ctx, chromedp.Focus(`.pane[data-label="A"]`)))
		press("1", kb.ArrowRight, "2")
		submit()
		require.Eventually(t, func() bool { return claimOnScreen() != claim }, 10*time.Second, 20*time.Millisecond, "item %d: the next item comes", i+1)
		require.Eventually(t, func() bool { return focused() == "A" }, 10*time.Second, 20*time.Millisecond, "item %d: focus on A", i+1)
		require.Eventually(t, func() bool { return browsertest.Count(t, ctx, `#work-panes .pane[data-status="complete"]`) == 2 },
			20*time.Second, 20*time.Millisecond, "item %d: the next item's replies, streamed while it was held ahead", i+2)
	}
	browsertest.Screenshot(t, ctx, "i13live-next")

	pool, err := db.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	defer pool.Close()
	// The judgment is sent behind the next item, so the last one may still be on its way.
	var judged, completed int
	require.Eventually(t, func() bool {
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(sum(judged), 0), count(*) FILTER (WHERE completed_at IS NOT NULL)
			FROM campaign_items WHERE campaign_id = $1`, c.ID).Scan(&judged, &completed))
		return judged == 2
	}, 10*time.Second, 20*time.Millisecond, "two items judged from the screen")
	assert.Equal(t, 2, completed, "each at k = 1")
}
