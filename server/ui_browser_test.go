package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// signInUI opens the app, which shows the sign-in form to a stranger, and signs in.
func signInUI(t *testing.T, ctx context.Context, f fixture, login string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"),
		browsertest.Visible("#signin-form"),
		chromedp.SetValue(chromedp.CSS("#signin-login"), login),
		chromedp.SetValue(chromedp.CSS("#signin-password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		browsertest.Visible("#current-user"),
		browsertest.Visible(`body[data-ready="true"]`),
	))
}

func switchLocale(t *testing.T, ctx context.Context, locale string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#locale-select"), locale), // it sends the input and change events itself
		browsertest.Visible(`html[lang="`+locale+`"]`),
		browsertest.Visible(`body[data-ready="true"]`),
	))
}

// TestHomePageInBothLanguages loads the UI in a real headless Chromium under the strict CSP:
// it starts in Chinese, shows the live status, and switches to English and back.
func TestHomePageInBothLanguages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := browsertest.New(t, 60*time.Second)

	signInUI(t, ctx, f, "root")
	assert.Equal(t, "项目", browsertest.Text(t, ctx, "h1"))
	assert.Equal(t, "ok", browsertest.Attr(t, ctx, "#status-database", "data-state"))
	browsertest.Screenshot(t, ctx, "home-zh")

	switchLocale(t, ctx, "en")
	assert.Equal(t, "Projects", browsertest.Text(t, ctx, "h1"))
	assert.Equal(t, "Models", browsertest.Text(t, ctx, `.nav a[href="#/models"]`))

	// The choice survives a reload.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Reload(),
		browsertest.Visible(`body[data-ready="true"]`),
	))
	assert.Equal(t, "OK", browsertest.Text(t, ctx, "#status-database"))
	browsertest.Screenshot(t, ctx, "home-en")
}

// TestPersonaWorkflowInBrowser walks a prompt author through the demo: open the customs
// persona, stream a baseline answer, get a template error with its position, publish a new
// version, diff it, and see the models page, switching language on the way.
func TestPersonaWorkflowInBrowser(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := demo.Load(context.Background(), prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	ctx := browsertest.New(t, 90*time.Second)

	signInUI(t, ctx, f, "root")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#project-list a[href="#/projects/demo"]`)),
		browsertest.Visible(`#persona-list`),
	))
	assert.Equal(t, 3, browsertest.Count(t, ctx, "#persona-list .persona-card"))
	browsertest.Screenshot(t, ctx, "demo-project-zh")

	// Project settings: switch blind ranking off and rename.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#edit-project input[name="name"]`), "演示项目（改名）"),
		chromedp.Click(chromedp.CSS(`#edit-project input[name="blind_ranking"]`)),
		chromedp.Click(chromedp.CSS(`#edit-project button[type="submit"]`)),
		browsertest.Visible(`h1`),
	))
	require.Eventually(t, func() bool { return browsertest.Text(t, ctx, "h1") == "演示项目（改名）" }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, browsertest.Text(t, ctx, ".page"), "非盲评")

	// Try the customs helper's first version in Chinese.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.persona-card[data-slug="customs-helper"] a`)),
		browsertest.Visible(`#try-form`),
		chromedp.SetValue(chromedp.CSS("#try-version"), "1"),
		chromedp.SetValue(chromedp.CSS("#try-message"), "个人邮寄进境物品的免税额是多少？"),
		chromedp.Click(chromedp.CSS("#try-send")),
		browsertest.Visible(`#try-done[data-status="complete"]`),
	))
	answer := browsertest.Text(t, ctx, "#try-output")
	assert.Contains(t, answer, "50元")
	assert.Contains(t, answer, "[1]")
	assert.Contains(t, browsertest.Text(t, ctx, "#try-meta"), "离线基线", "the baseline is labelled as such")
	assert.Positive(t, browsertest.Count(t, ctx, "#try-passages li"))
	browsertest.Screenshot(t, ctx, "try-customs-zh")

	// A template with a misspelled field is refused with its line and column.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#version-template"), "你是{{.Persona.Name}}。\n请参考：{{.Persona.Nmae}}"),
		chromedp.Click(chromedp.CSS("#version-check")),
		browsertest.Visible(`#version-template + .field-error[data-for="template"]`),
	))
	// Beside the template it names, without repeating the field's name, in the interface's
	// language (text/template's own words stay English).
	assert.True(t, strings.HasPrefix(browsertest.Text(t, ctx, "#version-template + .field-error"), "第 2 行第 15 列：can't evaluate field Nmae"),
		browsertest.Text(t, ctx, "#version-template + .field-error"))
	assert.Empty(t, browsertest.Text(t, ctx, "#version-result"), "not below the form")

	// Fixed, it previews and publishes as v3; its diff against v2 shows the change.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#version-template"), `{{define "opening"}}您好！{{end}}你是{{.Persona.Name}}，回答要简短。`),
		chromedp.Click(chromedp.CSS("#version-check")),
	))
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#version-preview")))
	assert.Equal(t, "你是海关通关助手，回答要简短。", browsertest.Text(t, ctx, "#version-preview"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#version-note"), "更简短"),
		chromedp.Click(chromedp.CSS("#version-publish")),
		browsertest.Visible(`#versions tr[data-version="3"]`),
		chromedp.Click(chromedp.CSS(`#versions tr[data-version="3"] .diff-button`)),
		browsertest.Visible(`#version-diff .add`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#version-diff"), `+{{define "opening"}}您好！{{end}}你是{{.Persona.Name}}，回答要简短。`)

	// In English the same screen speaks English, and an English question gets an English answer.
	switchLocale(t, ctx, "en")
	assert.Equal(t, "Try it", browsertest.Text(t, ctx, "#try h2"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#try-version"), "1"),
		chromedp.SetValue(chromedp.CSS("#try-message"), "How much cash can I carry without declaring it?"),
		chromedp.Click(chromedp.CSS("#try-send")),
		browsertest.Visible(`#try-done[data-status="complete"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#try-output"), "[1]")
	assert.Contains(t, browsertest.Text(t, ctx, "#try-meta"), "offline baseline")
	browsertest.Screenshot(t, ctx, "try-customs-en")

	// The instance admin's audit log shows the sign-in.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.nav a[href="#/admin/audit"]`)),
		browsertest.Visible(`#audit-table tr[data-action="sign_in"]`),
	))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.nav a[href="#/models"]`)),
		browsertest.Visible(`#models-table tr[data-model="baseline-extractive"] td.health[data-state="ok"]`),
	))
	assert.Equal(t, 2, browsertest.Count(t, ctx, "#models-table tbody tr"))
}

// TestTrainerSeesOnlyTheirProjectAndNoAdminPages signs in as a trainer, as a newcomer would
// with the printed demo credentials, and checks what the UI offers and what the server refuses.
func TestTrainerSeesOnlyTheirProjectAndNoAdminPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sum, err := demo.Load(context.Background(), prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	_, err = prompts.NewStore(f.pool).CreateProject(context.Background(), prompts.Project{Name: "别人的项目", Slug: "secret"})
	require.NoError(t, err)
	f.member(t, "trainer", sum.Project.ID, auth.RoleTrainer)
	ctx := browsertest.New(t, 60*time.Second)

	// The sign-in form in English refuses a wrong password, in words.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/"), browsertest.Visible("#signin-form")))
	switchLocale(t, ctx, "en")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#signin-login"), "trainer"),
		chromedp.SetValue(chromedp.CSS("#signin-password"), "wrong password"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		browsertest.Visible("#signin-status .error"),
	))
	assert.Contains(t, browsertest.Text(t, ctx, "#signin-status"), "wrong login or password")
	switchLocale(t, ctx, "zh-CN")

	signInUI(t, ctx, f, "trainer")
	assert.Equal(t, 1, browsertest.Count(t, ctx, "#project-list li.card"), "only the demo project")
	assert.Zero(t, browsertest.Count(t, ctx, `a[href="#/projects/secret"]`))
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll(".nav .admin-only")].every(a => a.hidden)`))
	require.NoError(t, err)
	assert.True(t, hidden, "no admin links for a trainer")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/#/admin/users"), browsertest.Visible("#main .error")))
	assert.Contains(t, browsertest.Text(t, ctx, "#main .error"), "只有系统管理员可以执行此操作", "the server's message, in the interface's language")
	// The previous page's error stays until the new page renders: wait for the new message.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/#/projects/secret")))
	require.Eventually(t, func() bool {
		return strings.Contains(browsertest.Text(t, ctx, "#main"), `项目 "secret" 不存在`)
	}, 10*time.Second, 20*time.Millisecond)

	// On a persona, a trainer may try versions but not publish them.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/#/projects/demo"), browsertest.Visible("#persona-list"),
		chromedp.Click(chromedp.CSS(`.persona-card[data-slug="companion"] a`)), browsertest.Visible("#try-form"),
	))
	assert.Zero(t, browsertest.Count(t, ctx, "#new-version"))
	assert.Zero(t, browsertest.Count(t, ctx, "#rubric"))
	browsertest.Screenshot(t, ctx, "trainer-persona")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
}
