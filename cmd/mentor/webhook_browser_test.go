package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/webhook"
)

// webhooksOnTheProjectPage registers a webhook on the project page as a
// project admin would, sees the secret once, refuses a bad URL next to its field, reads
// the delivery log with the receiver's status codes, and resumes a paused endpoint from
// the banner that tells its owner.
func webhooksOnTheProjectPage(t *testing.T, m mentor) {
	got := make(chan string, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(webhook.HeaderEvent)
		w.WriteHeader(http.StatusServiceUnavailable) // fails: the log shows 503
	}))
	t.Cleanup(recv.Close)
	ctx := browsertest.New(t, 2*time.Minute)
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("admin"),
		chromedp.Navigate(m.base+"/#/projects/demo"),
		browsertest.Visible("#new-webhook"),
	))
	assert.Equal(t, "还没有回调。", browsertest.Text(t, ctx, "#webhooks-none"))

	// A URL the server refuses: the error stands by the URL field, in Chinese.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#webhook-url"), "ftp://example.com/x"),
		chromedp.Click(chromedp.CSS("#new-webhook button[type=submit]")),
		browsertest.Visible(`#new-webhook .field-error[data-for="url"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, `#new-webhook .field-error[data-for="url"]`), "必须是 http 或 https 网址")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#webhook-url"), recv.URL+"/hook"),
		chromedp.Click(chromedp.CSS("#new-webhook button[type=submit]")),
		browsertest.Visible("#webhook-secret .secret-value"),
	))
	secret := browsertest.Text(t, ctx, "#webhook-secret .secret-value")
	assert.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#webhook-secret button")),
		browsertest.Visible("#webhook-list"),
	))
	assert.False(t, browsertest.Shown(t, ctx, "#webhook-secret .secret-value"), "the secret is shown once")
	assert.Contains(t, browsertest.Text(t, ctx, "#webhook-list"), "提交评判")

	// An export is an event: the receiver answers 503, and the log shows it.
	admin := m.signIn(t, "admin")
	status, body := admin.call("POST", "/api/v1/projects/demo/exports", map[string]any{"format": "rankings"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	select {
	case ev := <-got:
		assert.Equal(t, "export.ready", ev)
	case <-ctx.Done():
		t.Fatal("no delivery")
	}
	// The attempt is recorded just after the receiver answers: wait for the log to have it.
	var log struct {
		Deliveries []webhook.Delivery `json:"deliveries"`
	}
	var list struct {
		Webhooks []webhook.Webhook `json:"webhooks"`
	}
	admin.get("/api/v1/projects/demo/webhooks", &list)
	require.Len(t, list.Webhooks, 1)
	require.Eventually(t, func() bool {
		admin.get(fmt.Sprintf("/api/v1/projects/demo/webhooks/%d/deliveries", list.Webhooks[0].ID), &log)
		return len(log.Deliveries) == 1 && len(log.Deliveries[0].Attempts) == 1
	}, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#webhook-list .show-log")),
		browsertest.Visible("#delivery-log td.attempts span"),
	))
	assert.Equal(t, "503", browsertest.Text(t, ctx, "#delivery-log td.attempts span"))
	assert.Equal(t, "导出完成", browsertest.Text(t, ctx, "#delivery-log tbody tr td:nth-child(2)"))
	assert.Equal(t, "等待推送", browsertest.Text(t, ctx, "#delivery-log tbody tr td:nth-child(3)"), "it will be retried")

	// Fifty failures in a row pause the endpoint (webhook's tests step through them); its
	// owner learns of it from the banner and resumes it there.
	conn, err := pgx.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `UPDATE webhooks SET failures = 50, paused_at = now()`)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Reload(),
		browsertest.Visible("#webhooks p[role=alert] .resume"),
	))
	banner := browsertest.Text(t, ctx, "#webhooks p[role=alert]")
	assert.Contains(t, banner, fmt.Sprintf("连续 %d 次推送失败", webhook.PauseAfter))
	assert.Contains(t, banner, recv.URL)
	assert.Contains(t, browsertest.Text(t, ctx, "#webhook-list"), "已暂停")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#webhooks p[role=alert] .resume")),
		browsertest.Visible("#webhook-list"),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitNotPresent("#webhooks p[role=alert]"), // the page reloads after the resume
		browsertest.Visible("#webhook-list"),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#webhook-list"), "启用中")

	// Deleted, so the next part starts from a project with no endpoint again.
	status, body = admin.call("DELETE", fmt.Sprintf("/api/v1/projects/demo/webhooks/%d", list.Webhooks[0].ID), nil)
	require.Equal(t, http.StatusNoContent, status, "%s", body)
}
