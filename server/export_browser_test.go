package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestExportPageInBrowser opens the export page from the project page, watches the live
// count follow the filters in both languages, and downloads an export as a person would:
// one click, and the browser saves the snapshot's file.
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
	// Downloading records a snapshot by POST, then the browser saves its file.
	dir := t.TempDir()
	began, done := make(chan string, 1), make(chan string, 1)
	require.NoError(t, chromedp.ListenBrowser(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			select {
			case began <- ev.SuggestedFilename:
			default:
			}
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateCompleted {
				select {
				case done <- ev.GUID:
				default:
				}
			}
		}
	}))
	events := true
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#export-download")),
		browsertest.Visible("#export-file[data-snapshot]"),
	))
	var guid string
	select {
	case guid = <-done:
	case <-ctx.Done():
		t.Fatal("the browser did not save the export")
	}
	assert.Equal(t, "data-trl-dpo-all.jsonl", <-began)
	assert.Equal(t, "data-trl-dpo-all.jsonl", browsertest.Text(t, ctx, "#export-file"))
	snapshot := browsertest.Attr(t, ctx, "#export-file", "data-snapshot")
	assert.Equal(t, "/api/v1/projects/data/exports/"+snapshot+"/download", browsertest.Attr(t, ctx, "#export-file", "href"))
	saved, err := os.ReadFile(filepath.Join(dir, guid))
	require.NoError(t, err)
	assert.Equal(t, 300, bytes.Count(saved, []byte("\n")), "trl-dpo: ten pairs per judgment")
	var recorded string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT file_sha256->>'data-trl-dpo-all.jsonl' FROM dataset_snapshots WHERE id = $1`,
		snapshot).Scan(&recorded))
	sum := sha256.Sum256(saved)
	assert.Equal(t, recorded, hex.EncodeToString(sum[:]), "the saved file is the snapshot's")
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
