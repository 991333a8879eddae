package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestLeaderboardInChromium opens the board from the project page as the demo admin, in
// Chinese: the filter line says which votes count, the demo's customs-helper board ranks v2
// first with interval bars and a heat map, a dimension can be chosen, the comparison gives
// its verdict in Chinese, and a never-compared pair offers a blind campaign. Then the same
// board in English. MENTOR_SHOTS, when set, is a directory for the screenshots too.
func TestLeaderboardInChromium(t *testing.T) {
	t.Parallel()
	m := startMentor(t, slowStart)
	// Five minutes: the walk fits several boards, and under a full parallel suite on two
	// cores a fit that takes a second alone takes many.
	ctx := browsertest.New(t, 5*time.Minute)
	shot := func(name string) {
		browsertest.Screenshot(t, ctx, name)
		if dir := os.Getenv("MENTOR_SHOTS"); dir != "" {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "i15-"+name+".png"), png, 0o644))
		}
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		m.browserSignIn("admin"),
		chromedp.Navigate(m.base+"/#/projects/demo"),
		browsertest.Visible("#leaderboard-link"),
		chromedp.Click(chromedp.CSS("#leaderboard-link")),
		browsertest.Visible("#board-filter"),
		// The first board is rendered before the page is on screen: its charts must still
		// draw (chart.js once took the detached start for leaving the page, and never drew).
		browsertest.Visible("#board-matrix .chart svg"),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#board-filter"), "仅限已通过质检的投票")
	assert.Contains(t, browsertest.Text(t, ctx, "#board-filter"), "未做风格控制")
	assert.True(t, browsertest.Shown(t, ctx, "#board-disconnected"), "three personas, never compared with each other")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#board-persona"), "customs-helper"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#board-persona").dispatchEvent(new Event("change"))`),
		browsertest.Visible(`.board-table tr[data-entry="customs-helper/v2"]`),
		browsertest.Visible("#board-matrix .chart svg"),
	))
	assert.Equal(t, "customs-helper/v2", browsertest.Attr(t, ctx, ".board-table tbody tr", "data-entry"), "v2 ranks first")
	assert.Equal(t, 2, browsertest.Count(t, ctx, ".board-table tbody tr"))
	assert.Positive(t, browsertest.Count(t, ctx, ".chart svg"), "interval bars, scores over time and the heat map are drawn")
	shot("board-zh")

	// Version against version: decided, in Chinese.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#compare-persona"), "customs-helper"),
		chromedp.Click(chromedp.CSS("#compare-form button[type=submit]")),
		browsertest.Visible("#compare-verdict"),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#compare-verdict"), "v2 总体更好")
	assert.False(t, browsertest.Shown(t, ctx, "#compare-campaign"), "decided: no campaign offered")
	shot("compare-zh")

	// A dimension not in the persona's rubric cannot be chosen; one that is, can.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#board-dimension"), "accuracy"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#board-dimension").dispatchEvent(new Event("change"))`),
		browsertest.Visible(`.board-table tr[data-entry="customs-helper/v2"]`),
	))
	assert.Equal(t, "accuracy", browsertest.Value(t, ctx, "#board-dimension"), "the board is fitted on the chosen dimension")

	// Style control: the Style select refits the board with length and markdown as
	// covariates; the filter line says so, each part lists its coefficients, the link keeps
	// the choice over a reload, and a comparison made beside it is style-controlled too.
	// Each choice is made and announced in one step, as a person's click is: two steps
	// could set a select the page has just replaced.
	choose := func(css, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change")); })()`, css, value))
	}
	require.NoError(t, chromedp.Do(ctx,
		choose("#board-dimension", ""),
		choose("#board-style", "control"),
		browsertest.Visible(`#board-filter[data-style="control"]`),
		browsertest.Visible(`#board-style-coefficients tr[data-covariate="length"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#board-filter"), "已做风格控制")
	assert.Contains(t, browsertest.Text(t, ctx, "#board-style-coefficients"), "回复长度")
	assert.Equal(t, "customs-helper/v2", browsertest.Attr(t, ctx, ".board-table tbody tr", "data-entry"), "v2 still ranks first")
	hash, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`))
	require.NoError(t, err)
	assert.Equal(t, "#/projects/demo/leaderboard?persona=customs-helper&style=control", hash, "the link says which board is shown")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Reload(),
		browsertest.Visible(`#board-filter[data-style="control"]`),
		browsertest.Visible(`#board-style-coefficients tr[data-covariate="markdown"]`),
		chromedp.Click(chromedp.CSS("#compare-form button[type=submit]")),
		browsertest.Visible(`#compare-filter[data-style="control"]`),
	))
	assert.Equal(t, "customs-helper", browsertest.Value(t, ctx, "#board-persona"), "the reload kept the persona")
	assert.Contains(t, browsertest.Text(t, ctx, "#compare-verdict"), "v2 总体更好")
	assert.Contains(t, browsertest.Text(t, ctx, "#compare-filter"), "已做风格控制")
	shot("style-zh")

	// The voter check, for a manager.
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#voter-list")))
	assert.Positive(t, browsertest.Count(t, ctx, "#voter-list tbody tr"))

	// English.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("mentor-locale", "en")`),
		chromedp.Reload(),
		browsertest.Visible("#board-filter"),
		chromedp.SetValue(chromedp.CSS("#board-persona"), "customs-helper"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#board-persona").dispatchEvent(new Event("change"))`),
		browsertest.Visible("#board-matrix .chart svg"),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#board-filter"), "Checked votes only")
	shot("board-en")
}
