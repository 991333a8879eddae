package server_test

import (
	"context"
	"fmt"
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

// trainWorld is the demo project (which ranks blind) with a trainer, signed in to a browser
// on the customs persona's training screen.
func trainWorld(t *testing.T) (fixture, context.Context, int64) {
	t.Helper()
	return trainWorldAs(t, setup(t), auth.RoleTrainer)
}

// trainWorldAs is trainWorld on the fixture f, signed in with the given role, as a user
// whose login is the role's name.
func trainWorldAs(t *testing.T, f fixture, role auth.Role) (fixture, context.Context, int64) {
	t.Helper()
	ps := prompts.NewStore(f.pool)
	sum, err := demo.Load(context.Background(), ps, retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	f.member(t, string(role), sum.Project.ID, role)
	personas, err := ps.Personas(context.Background(), sum.Project.ID)
	require.NoError(t, err)
	var customs int64
	for _, p := range personas {
		if p.Slug == "customs-helper" {
			customs = p.ID
		}
	}
	ctx := browsertest.New(t, 2*time.Minute)
	signInUI(t, ctx, f, string(role))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/train/%d", f.srv.URL, customs)),
		browsertest.Visible("#train-message"),
	))
	return f, ctx, customs
}

func waitPanes(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return browsertest.Count(t, ctx, `.pane[data-status="complete"]`) == n
	}, 30*time.Second, 25*time.Millisecond, "%d candidates finish streaming", n)
}

// generateInUI asks a question and waits until the new turn's candidates have all finished
// complete.
func generateInUI(t *testing.T, ctx context.Context, question string, n int) {
	t.Helper()
	browsertest.AskOnTrainScreen(t, ctx, question, n)
	waitPanes(t, ctx, n)
}

func rankByKey(t *testing.T, ctx context.Context, label, key string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(`.pane[data-label="`+label+`"]`)),
		chromedp.KeyEvent(key),
	))
	assert.Equal(t, key, browsertest.Value(t, ctx, `.pane[data-label="`+label+`"] select.rank`))
}

// TestTrainerDoesAWholeTurn: ask, three candidates stream, rank them with the keyboard, edit
// one, submit, and continue the conversation from the edit.
func TestTrainerDoesAWholeTurn(t *testing.T) {
	t.Parallel()
	f, ctx, _ := trainWorld(t)
	generateInUI(t, ctx, "个人邮寄进境物品的免税额是多少？", 3)
	assert.Contains(t, browsertest.Text(t, ctx, `.pane[data-label="A"] .reply`), "[", "replies arrive with citations")

	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "2")
	rankByKey(t, ctx, "C", "3")

	// Edit B with the keyboard, and watch the diff.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(`.pane[data-label="B"]`)),
		chromedp.KeyEvent("e"),
		browsertest.Visible("#train-edit-text"),
		chromedp.Evaluate[chromedp.Void](`(() => { const a = document.querySelector("#train-edit-text"); a.value += "（以海关现场为准）"; a.dispatchEvent(new Event("input")); })()`),
		browsertest.Visible("#train-edit-diff .add"),
		chromedp.Click(chromedp.CSS(`#train-edit input[value="edit"]`)),
	))
	assert.Equal(t, "（以海关现场为准）", browsertest.Text(t, ctx, "#train-edit-diff .add"))
	browsertest.Screenshot(t, ctx, "train-judging")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-save[data-state="submitted"]`),
	))

	dbc := context.Background()
	var turnID, editedID, continuation int64
	var pairs int
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT j.turn_id, j.edited_message_id, j.continuation_message_id,
		(SELECT count(*) FROM preference_pairs p WHERE p.judgment_id = j.id)::int FROM judgments j`).Scan(&turnID, &editedID, &continuation, &pairs))
	assert.Equal(t, editedID, continuation, "the conversation continues from the edit")
	assert.Equal(t, 4, pairs, "A≻B, A≻C, B≻C, and the edit over B")
	var edited string
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT content FROM messages WHERE id = $1`, editedID).Scan(&edited))
	assert.Contains(t, edited, "（以海关现场为准）")

	// Continue: the next turn follows the edited reply.
	generateInUI(t, ctx, "那超过了怎么办？", 1)
	var parent int64
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT m.parent_id FROM turns t JOIN messages m ON m.id = t.user_message_id
		WHERE t.id <> $1 ORDER BY t.id DESC LIMIT 1`, turnID).Scan(&parent))
	assert.Equal(t, editedID, parent)
	assert.Contains(t, browsertest.Text(t, ctx, "#train-path"), "（以海关现场为准）", "the conversation shows the chosen reply")
	browsertest.Screenshot(t, ctx, "train-continued")

	// Visit a sibling: step back from the edit (4/4) to candidate C (3/4) and continue from it.
	require.Contains(t, browsertest.Text(t, ctx, "#train-path li.a .sibs"), "4/4")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#train-path li.a .prev"))))
	require.Eventually(t, func() bool {
		return strings.Contains(browsertest.Text(t, ctx, "#train-path li.a .sibs"), "C · 3/4")
	}, 10*time.Second, 20*time.Millisecond)
	var candidateC int64
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT message_id FROM candidates WHERE turn_id = $1 AND position = 3`, turnID).Scan(&candidateC))
	generateInUI(t, ctx, "换一个角度回答", 1)
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT m.parent_id FROM turns t JOIN messages m ON m.id = t.user_message_id ORDER BY t.id DESC LIMIT 1`).Scan(&parent))
	assert.Equal(t, candidateC, parent, "the new turn continues from the sibling")
}

// TestTrainerReloadKeepsTheDraft: a reload in the middle of a judgment brings back the
// candidates, the ranks given and the comment written.
func TestTrainerReloadKeepsTheDraft(t *testing.T) {
	t.Parallel()
	_, ctx, _ := trainWorld(t)
	generateInUI(t, ctx, "现金出境需要申报吗？", 2)
	rankByKey(t, ctx, "B", "1")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector("#train-comment"); c.value = "B 更准确"; c.dispatchEvent(new Event("input")); })()`),
		browsertest.Visible(`#train-save[data-state="draft"]`),
	))
	before := browsertest.Text(t, ctx, `.pane[data-label="A"] .reply`)

	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible(`body[data-ready="true"]`)))
	waitPanes(t, ctx, 2)
	assert.Equal(t, "1", browsertest.Value(t, ctx, `.pane[data-label="B"] select.rank`))
	assert.Equal(t, "B 更准确", browsertest.Value(t, ctx, "#train-comment"))
	assert.Equal(t, before, browsertest.Text(t, ctx, `.pane[data-label="A"] .reply`), "the candidates come back as they were")
}

// TestTrainerRanksByDragging drags candidates into place: C onto A puts C first.
func TestTrainerRanksByDragging(t *testing.T) {
	t.Parallel()
	_, ctx, _ := trainWorld(t)
	switchLocale(t, ctx, "en") // the training screen in English
	assert.Equal(t, "Generate candidates", browsertest.Text(t, ctx, "#train-generate"))
	generateInUI(t, ctx, "What is cross-border e-commerce retail import?", 3)
	assert.Equal(t, "Submit judgment", browsertest.Text(t, ctx, "#train-submit"))
	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "2")
	rankByKey(t, ctx, "C", "3")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.DragAndDrop(chromedp.CSS(`.pane[data-label="C"] header`), chromedp.CSS(`.pane[data-label="A"] .reply`)),
	))
	require.Eventually(t, func() bool {
		return browsertest.Value(t, ctx, `.pane[data-label="C"] select.rank`) == "1"
	}, 10*time.Second, 20*time.Millisecond, "C takes A's place")
	assert.Equal(t, "2", browsertest.Value(t, ctx, `.pane[data-label="A"] select.rank`))
	assert.Equal(t, "3", browsertest.Value(t, ctx, `.pane[data-label="B"] select.rank`))
}

// TestTrainerPicksVersions compares only the versions checked: with v2 unchecked, every
// candidate comes from v1. In a blind project only a reviewer (or an admin) has the choice.
func TestTrainerPicksVersions(t *testing.T) {
	t.Parallel()
	f, ctx, _ := trainWorldAs(t, setup(t), auth.RoleReviewer)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#train-versions input[data-version="2"]`))))
	generateInUI(t, ctx, "跨境电商年度限额是多少？", 2)
	var versions []int
	rows, err := f.pool.Query(context.Background(), `SELECT v.version FROM candidates c JOIN prompt_versions v ON v.id = c.prompt_version_id
		WHERE c.turn_id = (SELECT max(id) FROM turns) ORDER BY c.position`)
	require.NoError(t, err)
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	assert.Equal(t, []int{1, 1}, versions)
}
