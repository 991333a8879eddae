package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/prompts"
)

// screenUpstream is an OpenAI-compatible upstream for the trainer's-screen tests. Every model
// answers at once, in a few pieces, with a reply that names it and explains a tag (text that
// looks like HTML); "broken" refuses with HTTP 400, as an upstream that is down would, until
// heal is called.
type screenUpstream struct {
	srv    *httptest.Server
	healed atomic.Bool
}

const brokenMessage = "维护中，暂停服务"

// replyOf is a model's reply; it never names the model, which a blind trainer must not learn.
func replyOf(model string) string {
	style := map[string]string{"alpha": "简明版", "beta": "详细版", "broken": "重新生成版"}[model]
	return fmt.Sprintf("**结论**（%s）：个人邮寄进境物品，应征进口税额在人民币50元（含）以下的，海关予以免征 [1]。\n\n"+
		"- 超过限额的，应按规定办理退运或报关手续 [2]。\n- 网页里用 <script> 标签引入脚本。", style)
}

func newScreenUpstream(t *testing.T) *screenUpstream {
	t.Helper()
	u := &screenUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&body) //nolint:errcheck // a bad body answers with the empty model's reply
		if body.Model == "broken" && !u.healed.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, brokenMessage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		reply := []rune(replyOf(body.Model))
		for i := 0; i < len(reply); i += 12 {
			piece, _ := json.Marshal(string(reply[i:min(i+12, len(reply))]))
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", piece)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// screenWorld is the demo project (blind) with the upstream's models alpha, beta and broken,
// and a browser signed in with role on the customs persona's training screen.
func screenWorld(t *testing.T, role auth.Role) (fixture, *screenUpstream, context.Context, int64) {
	t.Helper()
	u := newScreenUpstream(t)
	f := newFixture(t, discardLogger(), options{env: map[string]string{"OPENAI_BASE_URL": u.srv.URL, "MENTOR_OPENAI_MODELS": "alpha,beta,broken"}})
	f, ctx, customs := trainWorldAs(t, f, role)
	return f, u, ctx, customs
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// viewportShot saves what the screen shows (not the whole page) as a PNG under the test's
// artifact directory, and under $MENTOR_SHOTS when that is set.
func viewportShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("MENTOR_SHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
}

// keyboard sends keystrokes to whatever has the focus, as a person at the keyboard would,
// and counts them: a chord (Ctrl+Shift+Enter) is one keystroke.
type keyboard struct {
	t     *testing.T
	ctx   context.Context
	count int
}

func (k *keyboard) press(keys ...string) {
	k.t.Helper()
	for _, key := range keys {
		require.NoError(k.t, chromedp.Do(k.ctx, chromedp.KeyEvent(key)), "key %q", key)
		k.count++
	}
}

func (k *keyboard) chord(key string, mods ...chromedp.Modifier) {
	k.t.Helper()
	require.NoError(k.t, chromedp.Do(k.ctx, chromedp.KeyEvent(key, chromedp.KeyModifiers(mods...))))
	k.count++
}

func focusedLabel(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.activeElement?.dataset?.label ?? document.activeElement?.tagName ?? ""`)
}

// TestJudgmentByKeyboardAlone does a complete judgment of four candidates without the mouse:
// a rank with a tie, every rubric dimension of every candidate, a flag, the reply to continue
// from, and submit. It counts the keystrokes, and checks what was stored.
func TestJudgmentByKeyboardAlone(t *testing.T) {
	t.Parallel()
	f, _, ctx, _ := screenWorld(t, auth.RoleTrainer)

	// The keys are documented on the screen, in both languages.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("?"), browsertest.Visible("#keys-help")))
	assert.Contains(t, browsertest.Text(t, ctx, "#keys-help"), "键盘快捷键")
	assert.Contains(t, browsertest.Text(t, ctx, "#keys-help"), "准确性", "the help names this rubric's dimensions")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)))
	assert.False(t, browsertest.Shown(t, ctx, "#keys-help"))
	switchLocale(t, ctx, "en")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("?"), browsertest.Visible("#keys-help")))
	assert.Contains(t, browsertest.Text(t, ctx, "#keys-help"), "Keyboard shortcuts")
	assert.Contains(t, browsertest.Text(t, ctx, "#keys-help"), "Accuracy")
	viewportShot(t, ctx, "train-keys-help-en")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("?")))
	assert.False(t, browsertest.Shown(t, ctx, "#keys-help"), "? hides the help again")
	switchLocale(t, ctx, "zh-CN")

	browsertest.AskOnTrainScreen(t, ctx, "个人邮寄进境物品的免税额是多少？", 4)
	rubric := browsertest.Count(t, ctx, `.pane[data-label="A"] .rating`)
	require.Equal(t, 6, rubric, "the customs helper's rubric")
	require.Eventually(t, func() bool { return focusedLabel(t, ctx) == "A" }, 5*time.Second, 20*time.Millisecond,
		"when the streams end, the keyboard is on candidate A")

	k := &keyboard{t: t, ctx: ctx}
	scores := func(s string) []string { return strings.Split(s, "") }
	// A: first, every dimension scored, flagged as a hallucination.
	k.press("1", "s")
	k.press(scores("543215")...)
	k.press("f", "1")
	// B: tied first, and the conversation continues from it.
	k.press(kb.ArrowRight, "1", "c", "s")
	k.press(scores("444444")...)
	// C and D: second and third.
	k.press(kb.ArrowRight, "2", "s")
	k.press(scores("333333")...)
	k.press(kb.ArrowRight, "3", "s")
	k.press(scores("222222")...)
	judged := k.count
	viewportShot(t, ctx, "keyboard-judged")
	assert.Contains(t, browsertest.Text(t, ctx, "#train-continue"), "B")

	// Passages are marked from the keyboard too (not part of the count above).
	passages := &keyboard{t: t, ctx: ctx}
	passages.press("p", "2", kb.ArrowDown, "0", kb.Escape)
	require.Eventually(t, func() bool {
		return browsertest.Count(t, ctx, `#train-passages li[data-n="1"][data-grade="2"]`) == 1 &&
			browsertest.Count(t, ctx, `#train-passages li[data-n="2"][data-grade="0"]`) == 1
	}, 10*time.Second, 20*time.Millisecond, "two passages marked")
	assert.Equal(t, "D", focusedLabel(t, ctx), "Esc goes back to the candidate")

	k.chord(kb.Enter, chromedp.ModifierCtrl, chromedp.ModifierShift)
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#train-save[data-state="submitted"]`)))
	t.Logf("a complete judgment of 4 candidates × %d dimensions by keyboard: %d keystrokes (%d before submit, 1 to submit); marking 2 passages: %d more",
		rubric, k.count, judged, passages.count)
	assert.Equal(t, 39, k.count, "keystrokes for the whole judgment")

	var ranking, ratings, flags string
	var continuation int64
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT ranking::text, ratings::text, flags::text, continuation_message_id FROM judgments`).
		Scan(&ranking, &ratings, &flags, &continuation))
	ids := map[string]int64{}
	msgs := map[string]int64{}
	rows, err := f.pool.Query(context.Background(), `SELECT position, id, message_id FROM candidates ORDER BY position`)
	require.NoError(t, err)
	for rows.Next() {
		var pos int
		var id, msg int64
		require.NoError(t, rows.Scan(&pos, &id, &msg))
		ids[letter(pos)], msgs[letter(pos)] = id, msg
	}
	require.NoError(t, rows.Err())
	assert.JSONEq(t, fmt.Sprintf("[[%d,%d],[%d],[%d]]", ids["A"], ids["B"], ids["C"], ids["D"]), ranking, "A and B tie first")
	var stored map[string]map[string]struct{ Value int }
	require.NoError(t, json.Unmarshal([]byte(ratings), &stored))
	assert.Len(t, stored, 4)
	for _, l := range []string{"A", "B", "C", "D"} {
		assert.Len(t, stored[fmt.Sprint(ids[l])], 6, "every dimension of %s is rated", l)
	}
	assert.Equal(t, 5, stored[fmt.Sprint(ids["A"])]["accuracy"].Value)
	assert.JSONEq(t, fmt.Sprintf(`{"%d":["hallucination"]}`, ids["A"]), flags)
	assert.Equal(t, msgs["B"], continuation, "the conversation continues from B")
}

func letter(position int) string { return string(rune('A' + position - 1)) }

// TestTrainerScreenUsesTheWidthAndFitsAPhone, in Chinese and in English: at 1440 × 900 four
// candidates sit in one row beside the passages, with nothing to scroll sideways; at 390 px
// the top bar stays one line, nothing overflows, and no label breaks inside a word. At both
// sizes no control or label of the top bar, the panes (ratings, flags) or the passages is
// cut off: English labels are longer than Chinese ones, and a grid sized for Chinese cut
// the selects of "Groundedness" and "Completeness" at the pane's edge.
func TestTrainerScreenUsesTheWidthAndFitsAPhone(t *testing.T) {
	t.Parallel()
	f, _, ctx, _ := screenWorld(t, auth.RoleTrainer)
	// A display name as long as the demo trainer's, which the phone's top bar cut to "训..".
	_, err := f.pool.Exec(context.Background(), `UPDATE users SET display_name = '训练师 Trainer' WHERE login = 'trainer'`)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible(`body[data-ready="true"] #train-message`)))
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
	browsertest.AskOnTrainScreen(t, ctx, "个人邮寄进境物品的免税额是多少？", 4)
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#train-passages li[data-n="1"]`)))
	// Mid-judgment: two ranks given, one candidate being scored, one flagged.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("1"), chromedp.KeyEvent("f"), chromedp.KeyEvent("3"), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.KeyEvent("2"), chromedp.KeyEvent("s"), chromedp.KeyEvent("4"), chromedp.KeyEvent("5")))

	for _, locale := range []string{"zh-CN", "en"} {
		if locale != "zh-CN" {
			require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)))
			switchLocale(t, ctx, locale)
			browsertest.WaitTrainScreenSettled(t, ctx, 4)
		}
		wide := locale + " at 1440 × 900"
		panes, passages, width, scrollWidth, height := trainGeometry(t, ctx)
		require.Len(t, panes, 4)
		for i, p := range panes {
			assert.InDelta(t, panes[0].Top, p.Top, 1, "%s: candidate %d sits in the first row", wide, i)
			assert.LessOrEqual(t, p.Right, passages.Left, "%s: candidate %d is left of the passages", wide, i)
			assert.Less(t, p.Top+60, height, "%s: candidate %d's header and rank are on screen without scrolling", wide, i)
		}
		assert.LessOrEqual(t, passages.Right, width, wide)
		assert.LessOrEqual(t, scrollWidth, width, "%s: nothing to scroll sideways", wide)
		assert.Empty(t, cutOff(t, ctx), "%s: controls and labels cut off", wide)
		viewportShot(t, ctx, "polish-"+locale+"-1440x900")

		phone := locale + " at 390 px"
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)))
		_, _, width, scrollWidth, _ = trainGeometry(t, ctx)
		assert.LessOrEqual(t, scrollWidth, width, "%s: nothing overflows sideways", phone)
		assertTopBarOneLine(t, ctx, phone, width)
		assert.Empty(t, cutOff(t, ctx), "%s: controls and labels cut off", phone)
		assert.Empty(t, brokenLabels(t, ctx), "%s: labels broken across lines", phone)
		assert.Equal(t, 4, browsertest.Count(t, ctx, `.flags label`)/4, "each pane has the four flags")
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`scrollTo(0, 0)`)))
		viewportShot(t, ctx, "polish-"+locale+"-390x844")
		require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(`.pane[data-label="A"] .ratings`))))
		viewportShot(t, ctx, "polish-"+locale+"-390x844-ratings")
	}
}

type box struct{ Left, Top, Right, Bottom float64 }

// trainGeometry measures the candidates' panes, the passages panel and the page's width.
func trainGeometry(t *testing.T, ctx context.Context) (panes []box, passages box, width, scrollWidth float64, height float64) {
	t.Helper()
	var g struct {
		Panes            []box
		Passages         box
		Width, Scroll, H float64
	}
	raw := eval[string](t, ctx, `JSON.stringify((() => {
		const b = (e) => { const r = e.getBoundingClientRect(); return { Left: r.left, Top: r.top, Right: r.right, Bottom: r.bottom }; };
		return { Panes: [...document.querySelectorAll("#train-panes .pane")].map(b), Passages: b(document.querySelector("#train-passages")),
			Width: innerWidth, Scroll: document.documentElement.scrollWidth, H: innerHeight };
	})())`)
	require.NoError(t, json.Unmarshal([]byte(raw), &g))
	return g.Panes, g.Passages, g.Width, g.Scroll, g.H
}

// assertTopBarOneLine checks that the top bar's items sit on one line within the screen.
func assertTopBarOneLine(t *testing.T, ctx context.Context, when string, width float64) {
	t.Helper()
	bar := eval[string](t, ctx, `JSON.stringify((() => {
		const bar = document.querySelector(".topbar");
		const items = [...bar.children].filter((e) => e.getClientRects().length > 0).map((e) => e.getBoundingClientRect());
		const line = parseFloat(getComputedStyle(bar).lineHeight) || 24;
		return { height: bar.getBoundingClientRect().height, line, tops: items.map((r) => r.top + r.height / 2),
			right: Math.max(...items.map((r) => r.right)) };
	})())`)
	var tb struct {
		Height, Line, Right float64
		Tops                []float64
	}
	require.NoError(t, json.Unmarshal([]byte(bar), &tb))
	for _, mid := range tb.Tops {
		assert.InDelta(t, tb.Tops[0], mid, 4, "%s: the top bar's items sit on one line: %s", when, bar)
	}
	assert.Less(t, tb.Height, 2*tb.Line+16, "%s: the top bar is one line high: %s", when, bar)
	assert.LessOrEqual(t, tb.Right, width, "%s: the top bar's items fit", when)
}

// cutOff lists every select, label, button, link and box of the top bar, the candidates'
// panes and the passages that a person cannot see whole: one that sticks out of its pane
// (where the next pane covers it) or off the screen; one cut by an ancestor that clips; a
// select narrower than its longest option ("Englis"); two that cover each other ("Sign ou"
// under the language); and any clipping element whose content is wider than it ("训..").
func cutOff(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `(() => {
		const out = [];
		const seen = (e) => e.getClientRects().length > 0;
		const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : "") +
			' "' + (e.innerText || e.value || "").trim().replace(/\s+/g, " ").slice(0, 40) + '"';
		const crosses = (r, q) => Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1 && Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1;
		const clips = (e) => ["hidden", "clip", "scroll", "auto"].includes(getComputedStyle(e).overflowX);
		for (const scope of [...document.querySelectorAll(".topbar, #train-panes .pane, .passage-panel")].filter(seen)) {
			const where = scope.dataset.label ? "pane " + scope.dataset.label : scope.className;
			const s = scope.getBoundingClientRect();
			const controls = [...scope.querySelectorAll("select, label, button, a, input, .key-hint")].filter(seen);
			for (const el of controls) {
				const r = el.getBoundingClientRect();
				if (r.left < s.left - 0.5 || r.right > s.right + 0.5) out.push(where + ": " + name(el) + " sticks out of it");
				if (r.left < -0.5 || r.right > innerWidth + 0.5) out.push(where + ": " + name(el) + " is off the screen");
				for (let p = el.parentElement; p && p !== scope; p = p.parentElement) {
					const q = p.getBoundingClientRect();
					if (clips(p) && (r.left < q.left - 0.5 || r.right > q.right + 0.5)) out.push(where + ": " + name(el) + " is cut by " + name(p));
				}
				if (el.tagName === "SELECT") {
					const saved = el.style.cssText;
					el.style.cssText += ";width:auto!important;min-width:0!important;max-width:none!important;flex:none!important";
					const need = el.getBoundingClientRect().width;
					el.style.cssText = saved;
					if (r.width < need - 1) out.push(where + ": " + name(el) + " is " + Math.round(r.width) + " px wide, its options need " + Math.round(need));
				}
			}
			for (let i = 0; i < controls.length; i++) {
				for (let j = i + 1; j < controls.length; j++) {
					const a = controls[i], b = controls[j];
					if (a.contains(b) || b.contains(a)) continue;
					if (crosses(a.getBoundingClientRect(), b.getBoundingClientRect())) out.push(where + ": " + name(a) + " and " + name(b) + " cover each other");
				}
			}
			for (const el of [scope, ...scope.querySelectorAll("*")].filter(seen)) {
				if (el.classList.contains("visually-hidden")) continue;
				const o = getComputedStyle(el).overflowX;
				if ((o === "hidden" || o === "clip") && el.scrollWidth > el.clientWidth + 1) out.push(where + ": " + name(el) + " clips its content");
			}
		}
		return out;
	})()`)
}

// brokenLabels lists the text inside a label or button that is broken across lines (不符合人 / 设).
func brokenLabels(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `(() => {
		const out = [];
		for (const el of document.querySelectorAll("button, label, .rating, .badge, .nav a")) {
			if (el.getClientRects().length === 0) continue;
			const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
			for (let n = walk.nextNode(); n; n = walk.nextNode()) {
				if (!n.textContent.trim()) continue;
				const r = document.createRange();
				r.selectNodeContents(n);
				const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
				if (lines.size > 1) out.push(n.textContent.trim());
			}
		}
		return out;
	})()`)
}

// TestBlindRankingShowsTrainersNoSources: in a blind project a trainer's composer offers just
// how many candidates (no versions or models), and no pane names a model or version, also
// after a reload. A reviewer may still pick versions, and in a project that does not rank
// blind the trainer sees where each candidate came from.
func TestBlindRankingShowsTrainersNoSources(t *testing.T) {
	t.Parallel()
	f, _, ctx, _ := screenWorld(t, auth.RoleTrainer)
	sources := []string{"baseline-extractive", "alpha", "beta", "broken"}
	noSources := func(when string) {
		t.Helper()
		page := browsertest.Text(t, ctx, "#main")
		for _, s := range sources {
			assert.NotContains(t, page, s, "%s: a trainer sees no model name", when)
		}
		assert.NotRegexp(t, `\bv[0-9]+\b`, page, "%s: a trainer sees no version", when)
		assert.Zero(t, browsertest.Count(t, ctx, "#train-versions, .pane .source"), when)
	}
	noSources("before a turn")
	browsertest.AskOnTrainScreen(t, ctx, "现金出境需要申报吗？", 4)
	noSources("during the turn")
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible(`body[data-ready="true"]`)))
	browsertest.WaitTrainScreenSettled(t, ctx, 4)
	noSources("after a reload")

	// A reviewer of the same project may choose the versions to compare.
	f.member(t, "reviewer", mustProjectID(t, f, "demo"), auth.RoleReviewer)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
	signInUI(t, ctx, f, "reviewer")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/#/projects/demo"), browsertest.Visible("#persona-list"),
		chromedp.Click(chromedp.CSS(`.persona-card[data-slug="customs-helper"] .train-link`)), browsertest.Visible("#train-versions")))
	assert.Contains(t, browsertest.Text(t, ctx, "#train-versions"), "baseline-extractive")

	// Not blind: the trainer sees each candidate's model and version.
	ps := prompts.NewStore(f.pool)
	p, err := ps.ProjectBySlug(context.Background(), "demo")
	require.NoError(t, err)
	p.BlindRanking = false
	_, err = ps.UpdateProject(context.Background(), p)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
	signInUI(t, ctx, f, "trainer")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/#/projects/demo"), browsertest.Visible("#persona-list"),
		chromedp.Click(chromedp.CSS(`.persona-card[data-slug="customs-helper"] .train-link`)), browsertest.Visible("#train-message")))
	assert.Contains(t, browsertest.Text(t, ctx, "#train-versions"), "baseline-extractive")
	browsertest.AskOnTrainScreen(t, ctx, "跨境电商年度限额是多少？", 2)
	assert.Equal(t, 2, browsertest.Count(t, ctx, ".pane .source"))
	assert.Contains(t, browsertest.Text(t, ctx, `.pane[data-label="A"] .source`), " v")
}

// recordPosts makes the page remember the path of every POST it sends from now on.
func recordPosts(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		window.__posts = [];
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => { if (opts?.method === "POST") window.__posts.push(String(url)); return fetch0(url, opts); };
	})()`)))
}

// TestHiddenWinsAndSubmitOnlyOnce: the sign-in page shows no nav links; the submit button of
// an empty screen does nothing (and throws nothing: a console error would fail the test); a
// submitted judgment's form goes away, and pressing submit again posts nothing, least of all
// to /turns/null/judgments. Everywhere, an element marked hidden is not displayed.
func TestHiddenWinsAndSubmitOnlyOnce(t *testing.T) {
	t.Parallel()
	f, ctx, _ := trainWorld(t)
	allHidden := func(where string) {
		t.Helper()
		shownHidden := eval[[]string](t, ctx, `[...document.querySelectorAll("[hidden]")].filter((e) => getComputedStyle(e).display !== "none").map((e) => e.id || e.className || e.tagName)`)
		assert.Empty(t, shownHidden, "%s: elements marked hidden are displayed", where)
	}
	recordPosts(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("#train-submit").click()`)))
	assert.False(t, browsertest.Shown(t, ctx, "#train-judge"), "no judgment form without a turn")
	allHidden("an empty training screen")

	generateInUI(t, ctx, "现金出境需要申报吗？", 2)
	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "2")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-save[data-state="submitted"]`),
	))
	assert.False(t, browsertest.Shown(t, ctx, "#train-judge"), "the submitted form goes away")
	allHidden("after submitting")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#train-submit").click()`),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl, chromedp.ModifierShift)),
	))
	posts := eval[[]string](t, ctx, `window.__posts`)
	var judgments []string
	for _, p := range posts {
		if strings.Contains(p, "/judgments") {
			judgments = append(judgments, p)
		}
	}
	require.Len(t, judgments, 1, "one judgment posted: %v", posts)
	assert.NotContains(t, judgments[0], "null")
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM judgments`).Scan(&n))
	assert.Equal(t, 1, n)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#sign-out")), browsertest.Visible("#signin-form")))
	assert.False(t, browsertest.Shown(t, ctx, ".topbar .nav"), "no nav links on the sign-in page")
	allHidden("the sign-in page")
}

// pathTexts returns the conversation path as the screen shows it, one entry per message.
func pathTexts(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `[...document.querySelectorAll("#train-path > li")].map((li) => li.querySelector(".text")?.innerText ?? li.innerText)`)
}

// TestContinueDefaultsAndThePathKeepsItsTurns: with no choice made, the conversation goes
// on from the top-ranked reply, or from the gold reply once written; the C key picks another.
// Stepping › and then ‹ between the first turn's replies brings back the whole path, the
// newest turn included.
func TestContinueDefaultsAndThePathKeepsItsTurns(t *testing.T) {
	t.Parallel()
	f, ctx, _ := trainWorld(t)
	dbc := context.Background()
	var continuation, message int64
	lastJudgment := func() int64 {
		t.Helper()
		require.NoError(t, f.pool.QueryRow(dbc, `SELECT continuation_message_id FROM judgments ORDER BY id DESC LIMIT 1`).Scan(&continuation))
		return continuation
	}
	candidate := func(label string) int64 {
		t.Helper()
		require.NoError(t, f.pool.QueryRow(dbc, `SELECT message_id FROM candidates WHERE turn_id = (SELECT max(id) FROM turns) AND position = $1`,
			int(label[0]-'A'+1)).Scan(&message))
		return message
	}
	submit := func() {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#train-submit")), browsertest.Visible(`#train-save[data-state="submitted"]`)))
	}

	// Turn 1: A ranked first; nothing chosen, so the conversation goes on from A.
	generateInUI(t, ctx, "个人邮寄进境物品的免税额是多少？", 2)
	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "2")
	assert.Contains(t, browsertest.Text(t, ctx, "#train-continue"), "A")
	assert.Equal(t, "c"+browsertest.Attr(t, ctx, `.pane[data-label="A"]`, "data-candidate"), browsertest.Attr(t, ctx, "#train-continue", "data-value"))
	submit()
	assert.Equal(t, candidate("A"), lastJudgment(), "the top-ranked reply by default")

	// Turn 2: once a gold reply is written, it is the default.
	generateInUI(t, ctx, "那超过了怎么办？", 1)
	rankByKey(t, ctx, "A", "1")
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const g = document.querySelector("#train-gold"); g.value = "超过限额的，需要办理退运或报关手续。"; g.dispatchEvent(new Event("input")); })()`)))
	assert.Equal(t, "gold", browsertest.Attr(t, ctx, "#train-continue", "data-value"))
	assert.True(t, eval[bool](t, ctx, `document.querySelector('#train-judge input[value="gold"]').checked`), "the gold reply's choice shows as chosen")
	submit()
	var gold int64
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT gold_message_id FROM judgments ORDER BY id DESC LIMIT 1`).Scan(&gold))
	assert.Equal(t, gold, lastJudgment(), "the gold reply by default")

	// Turn 3: A and B tie; C on B continues from B.
	generateInUI(t, ctx, "怎么办理退运？", 2)
	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "1")
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("c")))
	assert.Equal(t, "c"+browsertest.Attr(t, ctx, `.pane[data-label="B"]`, "data-candidate"), browsertest.Attr(t, ctx, "#train-continue", "data-value"))
	submit()
	assert.Equal(t, candidate("B"), lastJudgment(), "the key's choice")

	// The path shows all three turns; › then ‹ on the first turn's reply comes back to it.
	var full []string
	require.Eventually(t, func() bool { full = pathTexts(t, ctx); return len(full) == 6 }, 10*time.Second, 20*time.Millisecond, "three turns in the path")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#train-path li.a .next`))))
	require.Eventually(t, func() bool { return len(pathTexts(t, ctx)) == 2 }, 10*time.Second, 20*time.Millisecond, "B of the first turn was never continued")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#train-path li.a .prev`))))
	require.Eventually(t, func() bool { return len(pathTexts(t, ctx)) == 6 }, 10*time.Second, 20*time.Millisecond, "back on A, the path goes on to the newest turn: %v", pathTexts(t, ctx))
	assert.Equal(t, full, pathTexts(t, ctx))
}

// failingWorld is screenWorld on a persona of the demo project whose two prompt versions use
// the models alpha and broken, open on its training screen: of two candidates, one fails
// (broken's upstream refuses) with no text.
func failingWorld(t *testing.T) (fixture, *screenUpstream, context.Context) {
	t.Helper()
	f, up, ctx, _ := screenWorld(t, auth.RoleTrainer)
	dbc := context.Background()
	ps := prompts.NewStore(f.pool)
	persona, err := ps.CreatePersona(dbc, prompts.Persona{ProjectID: mustProjectID(t, f, "demo"), Name: "测试助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	for _, model := range []string{"alpha", "broken"} {
		_, err = ps.PublishVersion(dbc, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: model,
			Temperature: 0.3, TopP: 1, MaxTokens: 200, Author: "t", CorpusIDs: []int64{}})
		require.NoError(t, err)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/train/%d", f.srv.URL, persona.ID)),
		browsertest.Visible(`body[data-ready="true"] #train-message`),
	))
	return f, up, ctx
}

const (
	failedPane = `#train-panes .pane[data-rankable="false"]`
	goodPane   = `#train-panes .pane[data-rankable="true"]`
)

// submitInUI submits the judgment and waits until the server has taken it.
func submitInUI(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#train-submit"))))
	var failure string
	require.Eventually(t, func() bool {
		failure = browsertest.Text(t, ctx, "#train-submit-status .error, #train-judge .field-error")
		return failure != "" || browsertest.Shown(t, ctx, `#train-save[data-state="submitted"]`)
	}, 10*time.Second, 20*time.Millisecond)
	require.Empty(t, failure, "the judgment is refused")
}

// TestFailedCandidatesAreLeftOutOfTheRanking: a candidate whose upstream is down shows as
// failed, with the reason, and with no rank, rating or flag controls; the keys skip it; the
// judgment ranks the others only. The reply that did arrive shows text that looks like HTML
// as written.
func TestFailedCandidatesAreLeftOutOfTheRanking(t *testing.T) {
	t.Parallel()
	f, _, ctx := failingWorld(t)
	browsertest.AskOnTrainScreen(t, ctx, "免税额是多少？", 2)
	require.Equal(t, 1, browsertest.Count(t, ctx, failedPane))
	assert.Equal(t, "failed", browsertest.Attr(t, ctx, failedPane, "data-status"))
	assert.Contains(t, browsertest.Text(t, ctx, failedPane+" .failed-reason"), brokenMessage, "the reason is shown")
	assert.True(t, browsertest.Shown(t, ctx, failedPane+" button.regenerate"))
	for _, control := range []string{"select.rank", ".ratings", ".flags", `input[name="continue"]`} {
		assert.False(t, browsertest.Shown(t, ctx, failedPane+" "+control), "no %s on a failed candidate", control)
	}
	assert.Contains(t, browsertest.Text(t, ctx, goodPane+" .reply"), "网页里用 <script> 标签引入脚本。", "text that looks like HTML reads as written")
	viewportShot(t, ctx, "train-failed-candidate")

	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(failedPane)), chromedp.KeyEvent("1")))
	assert.Empty(t, browsertest.Value(t, ctx, failedPane+" select.rank"), "a failed candidate takes no rank")
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(goodPane)), chromedp.KeyEvent("1")))
	goodID := browsertest.Attr(t, ctx, goodPane, "data-candidate")
	assert.Equal(t, "c"+goodID, browsertest.Attr(t, ctx, "#train-continue", "data-value"))

	submitInUI(t, ctx)
	var ranking string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT ranking::text FROM judgments`).Scan(&ranking))
	assert.JSONEq(t, "[["+goodID+"]]", ranking)
}

// TestRegenerateACandidateInPlace: the trainer regenerates a failed candidate with its
// button's key (R); the same pane streams again from empty, becomes rankable, and the
// judgment ranks it with its new text.
func TestRegenerateACandidateInPlace(t *testing.T) {
	t.Parallel()
	f, up, ctx := failingWorld(t)
	browsertest.AskOnTrainScreen(t, ctx, "免税额是多少？", 2)
	require.Equal(t, 1, browsertest.Count(t, ctx, failedPane))
	id := browsertest.Attr(t, ctx, failedPane, "data-candidate")
	up.healed.Store(true)
	recordSocket := `(() => { window.__sent = []; const send0 = WebSocket.prototype.send;
		WebSocket.prototype.send = function (data) { window.__sent.push(String(data)); return send0.call(this, data); }; })()`
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](recordSocket),
		chromedp.Focus(chromedp.CSS(failedPane)), chromedp.KeyEvent("r")))
	var sent []string
	require.Eventually(t, func() bool { sent = eval[[]string](t, ctx, `window.__sent`); return len(sent) > 0 }, 5*time.Second, 20*time.Millisecond)
	var msg map[string]any
	require.NoError(t, json.Unmarshal([]byte(sent[0]), &msg))
	assert.Equal(t, "regenerate", msg["type"])
	assert.Equal(t, id, fmt.Sprint(msg["candidate_id"]))
	assert.NotEmpty(t, msg["id"])
	assert.Equal(t, browsertest.Attr(t, ctx, "#train-panes", "data-turn"), fmt.Sprint(msg["turn_id"]))

	pane := `#train-panes .pane[data-candidate="` + id + `"]`
	var refused string
	require.Eventually(t, func() bool {
		refused = browsertest.Text(t, ctx, pane+" .regen-status .error, "+pane+" .pane-failed .field-error")
		// Streaming again counts as rankable already: wait for the new reply to finish.
		return refused != "" || (browsertest.Attr(t, ctx, pane, "data-rankable") == "true" && browsertest.Attr(t, ctx, pane, "data-status") == "complete")
	}, 20*time.Second, 20*time.Millisecond)
	require.Empty(t, refused)
	assert.Equal(t, "complete", browsertest.Attr(t, ctx, pane, "data-status"))
	assert.Contains(t, browsertest.Text(t, ctx, pane+" .reply"), "重新生成版", "the new text replaces the failure")
	assert.Equal(t, 1, strings.Count(browsertest.Text(t, ctx, pane+" .reply"), "结论"), "the pane started from empty")

	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(pane)), chromedp.KeyEvent("1"),
		chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent("2"), chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent("1")))
	submitInUI(t, ctx)
	var content, status string
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT m.content, c.status FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.id = $1`, id).Scan(&content, &status))
	assert.Equal(t, "complete", status)
	assert.Contains(t, content, "重新生成版")
}

// TestErrorsNextToTheirControlAndDatesInTheUILanguage: every API call and the socket name the
// interface's language (Accept-Language, ?lang=), so the server answers in it; an error shows
// beside the control it names, over REST (a judgment's edit) and the websocket (the question);
// and dates are written in the interface's language, whatever the browser's.
func TestErrorsNextToTheirControlAndDatesInTheUILanguage(t *testing.T) {
	t.Parallel()
	f, ctx, customs := trainWorld(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		window.__langs = []; window.__sockets = [];
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => { if (String(url).startsWith("/api/")) window.__langs.push(opts?.headers?.["Accept-Language"] ?? ""); return fetch0(url, opts); };
		const WS = window.WebSocket;
		window.WebSocket = class extends WS { constructor(url, p) { window.__sockets.push(String(url)); super(url, p); } };
	})()`)))
	// A fresh render of the screen, under the watch of the two hooks above.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/#/"), browsertest.Visible("#project-list"),
		chromedp.Navigate(fmt.Sprintf("%s/#/train/%d", f.srv.URL, customs)), browsertest.Visible(`body[data-ready="true"] #train-message`)))

	// The websocket: a question over the limit is refused beside the question box, and kept.
	long := strings.Repeat("问", 8001)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#train-message"), long),
		chromedp.Click(chromedp.CSS("#train-generate")),
		browsertest.Visible(`#train-message + .field-error[data-for="message"]`),
	))
	assert.Contains(t, browsertest.Text(t, ctx, `#train-message + .field-error`), "8000")
	assert.Empty(t, browsertest.Text(t, ctx, "#train-status"), "not at the top")
	assert.Equal(t, len([]rune(long)), len([]rune(browsertest.Value(t, ctx, "#train-message"))), "the question is kept")

	// REST: an edit that changes nothing is refused beside the edit.
	generateInUI(t, ctx, "现金出境需要申报吗？", 1)
	rankByKey(t, ctx, "A", "1")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.KeyEvent("e"),
		browsertest.Visible("#train-edit-text"),
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-edit .field-error[data-for="edit.content"]`),
	))
	assert.Equal(t, "true", browsertest.Attr(t, ctx, "#train-edit-text", "aria-invalid"))
	assert.Empty(t, browsertest.Text(t, ctx, "#train-status"), "not at the top")
	assert.Empty(t, browsertest.Text(t, ctx, "#train-submit-status"), "not apart from the edit")
	viewportShot(t, ctx, "train-error-beside-edit")

	langs := eval[[]string](t, ctx, `window.__langs`)
	require.NotEmpty(t, langs)
	for _, l := range langs {
		assert.Equal(t, "zh-CN", l, "every API call names the interface's language")
	}
	sockets := eval[[]string](t, ctx, `window.__sockets`)
	require.NotEmpty(t, sockets)
	assert.Contains(t, sockets[len(sockets)-1], "?lang=zh-CN")

	switchLocale(t, ctx, "en")
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#train-message")))
	langs = eval[[]string](t, ctx, `window.__langs`)
	assert.Equal(t, "en", langs[len(langs)-1])
	sockets = eval[[]string](t, ctx, `window.__sockets`)
	assert.Contains(t, sockets[len(sockets)-1], "?lang=en", "the new socket speaks English")

	// Dates: the persona's versions table, in English and then in Chinese.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/#/personas/%d", f.srv.URL, customs)), browsertest.Visible(`#versions tr[data-version="1"]`)))
	created := func() string { return browsertest.Text(t, ctx, `#versions tr[data-version="1"] td:nth-child(9)`) }
	assert.Regexp(t, `^[A-Z][a-z]{2} \d{1,2}, \d{4}`, created(), "an English date")
	switchLocale(t, ctx, "zh-CN")
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#versions tr[data-version="1"]`)))
	assert.Regexp(t, `^\d{4}年\d{1,2}月\d{1,2}日`, created(), "a Chinese date")
}
