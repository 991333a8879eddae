package i15walk

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// A walk of the real binary (not committed): MENTOR_WALK_BASE, MENTOR_WALK_PASSWORD.
func TestWalk(t *testing.T) {
	base, pw := os.Getenv("MENTOR_WALK_BASE"), os.Getenv("MENTOR_WALK_PASSWORD")
	if base == "" {
		t.Skip()
	}
	ctx := browsertest.New(t, 8*time.Minute)
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("/work/shots/i15done-"+name+".png", png, 0o644))
	}
	choose := func(css, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change")); })()`, css, value))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(base+"/"),
		browsertest.Visible("#signin-form"),
		chromedp.SetValue(chromedp.CSS("#signin-login"), "admin"),
		chromedp.SetValue(chromedp.CSS("#signin-password"), pw),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		browsertest.Visible("#current-user"),
	))
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`localStorage.setItem("mentor-locale", %q)`, lang)),
			chromedp.Navigate(base+"/?l="+lang+"#/projects/demo"),
			browsertest.Visible("#leaderboard-link"),
			chromedp.Click(chromedp.CSS("#leaderboard-link")),
			browsertest.Visible("#board-matrix .chart svg"),
		))
		shot(lang + "-project-board")
		require.NoError(t, chromedp.Do(ctx,
			choose("#board-persona", "customs-helper"),
			browsertest.Visible(`.board-table tr[data-entry="customs-helper/v2"]`),
			browsertest.Visible("#board-matrix .chart svg"),
			browsertest.Visible("#voter-list"),
		))
		time.Sleep(time.Second) // let the charts' animation settle for the picture (not a test)
		shot(lang + "-board")
		require.NoError(t, chromedp.Do(ctx,
			choose("#board-style", "control"),
			browsertest.Visible(`#board-filter[data-style="control"]`),
			browsertest.Visible(`#board-style-coefficients tr[data-covariate="length"]`),
			chromedp.SetValue(chromedp.CSS("#compare-persona"), "customs-helper"),
			chromedp.Click(chromedp.CSS("#compare-form button[type=submit]")),
			browsertest.Visible(`#compare-filter[data-style="control"]`),
		))
		time.Sleep(time.Second)
		shot(lang + "-style-compare")
		require.NoError(t, chromedp.Do(ctx,
			choose("#board-style", "none"),
			choose("#board-persona", "finance-helper"),
			browsertest.Visible(`#board-filter[data-style="none"]`),
			chromedp.SetValue(chromedp.CSS("#compare-persona"), "finance-helper"),
			chromedp.Click(chromedp.CSS("#compare-form button[type=submit]")),
			browsertest.Visible(`#compare-verdict`),
		))
		time.Sleep(time.Second)
		shot(lang + "-finance")
	}
}
