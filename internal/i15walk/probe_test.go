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

func TestProbe(t *testing.T) {
	base, pw := os.Getenv("MENTOR_WALK_BASE"), os.Getenv("MENTOR_WALK_PASSWORD")
	if base == "" {
		t.Skip()
	}
	ctx := browsertest.New(t, 3*time.Minute)
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
		chromedp.Navigate(base+"/#/projects/demo/leaderboard?persona=customs-helper"),
		browsertest.Visible("#board-matrix .chart svg"),
	))
	probe := `[...document.querySelectorAll(".chart")].map((c) => c.clientWidth + "/" + (c.querySelector("svg")?.getAttribute("width") ?? "-")).join(" ")`
	for i := range 3 {
		w, err := chromedp.Run(ctx, chromedp.Evaluate[string](probe))
		require.NoError(t, err)
		t.Log("before", i, w)
		time.Sleep(300 * time.Millisecond)
	}
	require.NoError(t, chromedp.Do(ctx, choose("#board-style", "control"), browsertest.Visible(`#board-style-coefficients tr[data-covariate="length"]`)))
	for i := range 5 {
		w, err := chromedp.Run(ctx, chromedp.Evaluate[string](probe))
		require.NoError(t, err)
		t.Log("after", i, w)
		time.Sleep(300 * time.Millisecond)
	}
}
