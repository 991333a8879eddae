package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
)

// TestTrainerLoopInChromium is the trainer's whole loop in a real headless Chromium, against
// the server that run started as `mentor serve` does: sign in with the demo account, open the
// customs helper, ask, watch four candidates stream, judge them by keyboard (a tie, every
// rubric dimension, a flag), mark passages, write a gold reply that cites one, submit,
// continue from the gold reply (the default once it is written), judge the second turn, and
// find both judgments in the team's export.
func TestTrainerLoopInChromium(t *testing.T) {
	t.Parallel()
	m := startMentor(t, nil)
	ctx := browsertest.New(t, 3*time.Minute)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))

	// 1. Sign in as the demo trainer, with the password `make run` printed.
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("trainer"),
		browsertest.Visible(`body[data-ready="true"]`),
	))
	admin := m.signIn(t, "admin")
	customs := admin.persona("customs-helper")
	// The demo's versions answer with the offline baselines; the team publishes a third on
	// a real model, so the trainer's default four mix models and versions.
	var detail struct {
		Versions []struct {
			CorpusIDs []int64 `json:"corpus_ids"`
		} `json:"versions"`
	}
	admin.get(fmt.Sprintf("/api/v1/personas/%d", customs.ID), &detail)
	require.NotEmpty(t, detail.Versions)
	status, body := admin.call("POST", fmt.Sprintf("/api/v1/personas/%d/versions", customs.ID), map[string]any{
		"template": "你是{{.Persona.Name}}，依据知识库回答，引用时写 [n]。", "model": "qwen-test", "retrieval_k": 4,
		"corpus_ids": detail.Versions[0].CorpusIDs, "change_note": "接入 qwen-test"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/train/%d", m.base, customs.ID)),
		browsertest.Visible("#train-message"),
	))

	// 2–3. Ask; four candidates from several models and versions stream side by side.
	ask := func(question string, n int) {
		t.Helper()
		browsertest.AskOnTrainScreen(t, ctx, question, n)
		require.Equal(t, n, browsertest.Count(t, ctx, `#train-panes .pane[data-status="complete"]`), "%d candidates complete", n)
	}
	ask("个人邮寄进境物品的免税额是多少？", 4)
	replies := map[string]string{}
	for _, l := range []string{"A", "B", "C", "D"} {
		replies[l] = browsertest.Text(t, ctx, `.pane[data-label="`+l+`"] .reply`)
		assert.NotEmpty(t, replies[l], "candidate %s said something", l)
	}
	page := browsertest.Text(t, ctx, "#train-panes")
	for _, secret := range []string{"qwen-test", "deepseek-test", "baseline-extractive"} {
		assert.NotContains(t, page, secret, "a blind project names no model to its trainer")
	}

	// 4. Judge by keyboard: A and B tie first, C, then D; every dimension; A flagged.
	press := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(k)))
		}
	}
	require.Eventually(t, func() bool {
		label, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement?.dataset?.label ?? ""`))
		return label == "A"
	}, 10*time.Second, 20*time.Millisecond, "when the streams end, the keyboard is on candidate A")
	dims := browsertest.Count(t, ctx, `.pane[data-label="A"] .rating`)
	require.Positive(t, dims)
	scores := func(v string) []string { return strings.Split(strings.Repeat(v, dims), "") }
	press("1", "s")
	press(scores("5")...)
	press("f", "1")
	press(kb.ArrowRight, "1", "s")
	press(scores("4")...)
	press(kb.ArrowRight, "2", "s")
	press(scores("3")...)
	press(kb.ArrowRight, "3", "s")
	press(scores("2")...)
	// Passages: the first is key, the second irrelevant.
	press("p", "2", kb.ArrowDown, "0", kb.Escape)
	require.Eventually(t, func() bool {
		return browsertest.Count(t, ctx, `#train-passages li[data-n="1"][data-grade="2"]`) == 1
	}, 10*time.Second, 20*time.Millisecond, "the key passage is marked")

	// A gold reply citing passage [1]; the conversation then goes on from it by default.
	gold := "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征[1]。"
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys("#train-gold", gold)))
	assert.Equal(t, "gold", browsertest.Attr(t, ctx, "#train-continue", "data-value"), "continue from the gold reply once it is written")

	// 5. Submit.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-save[data-state="submitted"]`),
	))
	assert.False(t, browsertest.Shown(t, ctx, "#train-judge"), "the submitted form leaves the screen")

	// 6–7. Continue from the gold reply, and judge the second turn.
	ask("超过50元怎么算？", 2)
	assert.Contains(t, browsertest.Text(t, ctx, "#train-path"), gold, "the conversation shows the gold reply it goes on from")
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`.pane[data-label="A"]`))))
	press("1", kb.ArrowRight, "2")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-save[data-state="submitted"]`),
	))

	// 8. The team's export holds what the trainer did.
	sft := admin.exportRows("openai-sft")
	var goldRow, secondTurn bool
	for _, row := range sft {
		msgs := row["messages"].([]any)
		last := msgs[len(msgs)-1].(map[string]any)["content"]
		goldRow = goldRow || last == gold
		secondTurn = secondTurn || (len(msgs) >= 4 && msgs[len(msgs)-2].(map[string]any)["content"] == "超过50元怎么算？")
	}
	assert.True(t, goldRow, "the gold reply is an SFT row: %v", sft)
	assert.True(t, secondTurn, "the second turn is an SFT row")
	dpo := admin.exportRows("trl-dpo")
	var tie bool
	for _, row := range dpo {
		chosen := row["chosen"].([]any)[0].(map[string]any)["content"]
		rejected := row["rejected"].([]any)[0].(map[string]any)["content"]
		tie = tie || (chosen == replies["A"] && rejected == replies["B"]) || (chosen == replies["B"] && rejected == replies["A"])
	}
	assert.NotEmpty(t, dpo)
	assert.False(t, tie, "A and B tied: no pair between them")
	status, body = admin.call("GET", "/api/v1/projects/demo/exports/count?format=retrieval-triplets", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	assert.NotContains(t, string(body), `"rows":0`, "the marked passages make retrieval triplets: %s", body)
}

// browserSignIn signs login in through the sign-in page, as a person does, and waits for
// the signed-in header: every browser test starts this way.
func (m mentor) browserSignIn(login string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(m.base+"/"),
		browsertest.Visible("#signin-form"),
		chromedp.SetValue(chromedp.CSS("#signin-login"), login),
		chromedp.SetValue(chromedp.CSS("#signin-password"), m.passwords[login]),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		browsertest.Visible("#current-user"),
	)
}

// browserAs returns a function that signs the browser in as login, signing out whoever was
// signed in before: for tests that walk one screen as several people in turn.
func (m mentor) browserAs(t *testing.T, ctx context.Context) func(login string) {
	signedIn := false
	return func(login string) {
		t.Helper()
		if signedIn {
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
		}
		require.NoError(t, chromedp.Do(ctx, m.browserSignIn(login)))
		signedIn = true
	}
}
