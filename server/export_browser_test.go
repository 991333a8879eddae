package server_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestExportPageInBrowser opens the export page from the project page, watches the live
// count follow the filters in both languages, and checks the download link.
func TestExportPageInBrowser(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 300)
	ctx := browsertest.New(t, 90*time.Second)
	signInUI(t, ctx, f, "root")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/#/projects/data"),
		browsertest.Visible("#export-link"),
		chromedp.Click(chromedp.CSS("#export-link")),
		browsertest.Visible(`#export-count[data-state="done"]`),
	))
	assert.Equal(t, "导出数据集", browsertest.Text(t, ctx, "h1"))
	assert.Equal(t, "30", browsertest.Attr(t, ctx, "#export-count", "data-rows"), "trl-sft: one row per judged turn")
	assert.Equal(t, "30 行", browsertest.Text(t, ctx, "#export-count"))

	// Preference pairs: ten per judgment.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#export-format"), "trl-dpo"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#export-format").dispatchEvent(new Event("change"))`),
		browsertest.Visible(`#export-count[data-rows="300"]`),
	))
	assert.Contains(t, browsertest.Attr(t, ctx, "#export-download", "href"), "/api/v1/projects/data/exports?format=trl-dpo")
	browsertest.Screenshot(t, ctx, "export-zh")

	switchLocale(t, ctx, "en")
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#export-count[data-state="done"]`)))
	assert.Equal(t, "Export a dataset", browsertest.Text(t, ctx, "h1"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#export-to"), "2001-01-01"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#export-to").dispatchEvent(new Event("input"))`),
		browsertest.Visible(`#export-count[data-rows="0"]`),
	))
	assert.Equal(t, "No rows match these filters.", browsertest.Text(t, ctx, "#export-count"))
	browsertest.Screenshot(t, ctx, "export-en")
}
