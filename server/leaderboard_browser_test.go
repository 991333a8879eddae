package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestStyleControlledBoardReadsAsChinese opens the leaderboard with votes, style control on
// (from the link), a comparison made and the voter check shown, as a manager in zh-CN, and
// fails on any Latin word that is not a name, as TestEveryPageReadsAsChinese does for
// every page: that walk sees the board without votes, where most of it is not drawn.
func TestStyleControlledBoardReadsAsChinese(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx0 := context.Background()
	sum, err := demo.Load(ctx0, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	root, err := f.auth.UserByLogin(ctx0, "root")
	require.NoError(t, err)
	require.NoError(t, leaderboard.LoadDemo(ctx0, f.pool, sum.Project.ID, root.ID, []int64{root.ID}))
	var models []string
	for _, m := range f.models.Models() {
		models = append(models, m.Name)
	}

	ctx := browsertest.New(t, 180*time.Second)
	signInUI(t, ctx, f, "root")
	page := fmt.Sprintf("#/projects/%s/leaderboard?persona=customs-helper&style=control", sum.Project.Slug)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/"+page),
		browsertest.Visible(`html[lang="zh-CN"]`),
		browsertest.Visible(`#board-filter[data-style="control"]`),
		browsertest.Visible(`#board-style-coefficients tr[data-covariate="length"]`),
		browsertest.Visible("#board-matrix .chart svg"),
		browsertest.Visible("#voter-list"),
		chromedp.Click(chromedp.CSS("#compare-form button[type=submit]")),
		browsertest.Visible(`#compare-filter[data-style="control"]`),
	))
	texts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](visibleText))
	require.NoError(t, err)
	var found []string
	for _, line := range texts {
		where, text, _ := strings.Cut(line, "\t")
		for _, w := range latinRun.FindAllString(text, -1) {
			if !allowedName(w, models) {
				found = append(found, fmt.Sprintf("%s: %q in %q", where, w, text))
			}
		}
	}
	require.Empty(t, found, "English words on the style-controlled board in Chinese (translate them through ui/static/locales)")
}
