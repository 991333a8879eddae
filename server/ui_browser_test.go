package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestHomePageInBothLanguages loads the UI in a real headless Chromium under the strict CSP:
// it starts in Chinese, shows the live status, and switches to English and back.
func TestHomePageInBothLanguages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := browsertest.New(t, 60*time.Second)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
	))
	assert.Equal(t, "欢迎使用 Mentor", text(t, ctx, "h1"))
	assert.Equal(t, "ok", attr(t, ctx, "#status-database", "data-state"))
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "zh-CN", lang)
	browsertest.Screenshot(t, ctx, "home-zh")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#locale-select"), "en"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#locale-select").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)),
	))
	assert.Equal(t, "Welcome to Mentor", text(t, ctx, "h1"))

	// The choice survives a reload.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
	))
	assert.Equal(t, "OK", text(t, ctx, "#status-database"))
	browsertest.Screenshot(t, ctx, "home-en")
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(t, err, css)
	return s
}

func attr(t *testing.T, ctx context.Context, css, name string) string {
	t.Helper()
	a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(css), name))
	require.NoError(t, err, css)
	return a.Value
}
