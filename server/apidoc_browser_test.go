package server_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/server"
)

// TestAPIReferencePageRendersTheDocument opens 接口文档 from the home page: every operation
// of the document is on the page, with its Chinese summary, and in English the server's.
func TestAPIReferencePageRendersTheDocument(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := browsertest.New(t, 60*time.Second)
	signInUI(t, ctx, f, "root")
	require.NoError(t, chromedp.Do(ctx,
		browsertest.Visible("#api-link"),
		chromedp.Click(chromedp.CSS("#api-link")),
		browsertest.Visible(`details.api-op[data-op="postSession"]`),
		browsertest.Visible(`body[data-ready="true"]`),
	))
	assert.Equal(t, "接口文档", browsertest.Text(t, ctx, "h1"))
	assert.Equal(t, len(server.Operations()), browsertest.Count(t, ctx, "details.api-op"))
	assert.Equal(t, "用登录名和密码登录", browsertest.Text(t, ctx, `details[data-op="postSession"] .api-summary`))
	assert.Equal(t, "/session", browsertest.Text(t, ctx, `details[data-op="postSession"] .api-path`))
	assert.Positive(t, browsertest.Count(t, ctx, `details[data-op="postSession"] li[data-status="429"]`), "the throttled sign-in is documented")
	assert.Positive(t, browsertest.Count(t, ctx, `#api-schema-SessionView`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`details[data-op="postProjectsProjectPersonas"] > summary`)),
		browsertest.Visible(`details[data-op="postProjectsProjectPersonas"][open] .api-needs`)))
	assert.Equal(t, "需要权限：编辑提示词", browsertest.Text(t, ctx, `details[data-op="postProjectsProjectPersonas"] .api-needs`))
	browsertest.Screenshot(t, ctx, "api-zh")

	switchLocale(t, ctx, "en")
	assert.Equal(t, "API reference", browsertest.Text(t, ctx, "h1"))
	assert.Equal(t, "Sign in with a login and password", browsertest.Text(t, ctx, `details[data-op="postSession"] .api-summary`))
}
