package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/render"
)

// TestModelRepliesNeverRunAsScript has a model answer with each payload of the XSS corpus,
// streams it into the try panel of a real Chromium, and checks that nothing ran (no flag set,
// no alert), that no CSP violation was reported (the harness fails on any), and that the
// reply's text is still there to read.
func TestModelRepliesNeverRunAsScript(t *testing.T) {
	t.Parallel()
	which := regexp.MustCompile(`payload (\d+)`)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		n, _ := strconv.Atoi(which.FindStringSubmatch(req.Messages[len(req.Messages)-1].Content)[1])
		w.Header().Set("Content-Type", "text/event-stream")
		payload := []rune(render.XSSCorpus[n])
		for i := 0; i < len(payload); i += 5 { // in small pieces, splitting tags (but not characters) across deltas
			piece, _ := json.Marshal(string(payload[i:min(i+5, len(payload))]))
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", piece)
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(upstream.Close)
	f := newFixture(t, discardLogger(), options{env: map[string]string{"OPENAI_BASE_URL": upstream.URL, "MENTOR_OPENAI_MODELS": "mischief"}})
	persona := personaOn(t, f)
	ctx := browsertest.New(t, 3*time.Minute)

	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("a script opened a dialog: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}) //nolint:errcheck // best effort
		}
	}()

	signInUI(t, ctx, f, "root")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/#/personas/"+strings.TrimPrefix(persona, "/api/v1/personas/")),
		browsertest.Visible("#try-form"),
		chromedp.SetValue(chromedp.CSS("#try-model"), "mischief"),
	))
	marker := regexp.MustCompile(`测试\d+`)
	// Payloads with no markdown in them: all the reader should see is their text.
	plainHTML := regexp.MustCompile("^测试\\d+ <[^\\[`*&]*$")
	for i, payload := range render.XSSCorpus {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#try-message"), fmt.Sprintf("payload %d", i)),
			chromedp.Click(chromedp.CSS("#try-send")),
			browsertest.Visible(`#try-done[data-status="complete"]`),
			browsertest.Visible(`#try-output.rendered`),
		), "payload %d", i)
		flag, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__xss)`))
		require.NoError(t, err)
		assert.Equal(t, "undefined", flag, "payload %d ran: %s", i, payload)
		shown := browsertest.Text(t, ctx, "#try-output")
		assert.Contains(t, shown, marker.FindString(payload), "payload %d is still readable", i)
		if plainHTML.MatchString(payload) {
			// Text that only looks like HTML is shown as written, as the export keeps it.
			assert.Equal(t, strings.Join(strings.Fields(payload), " "), strings.Join(strings.Fields(shown), " "), "payload %d is shown, not dropped", i)
		}
	}
	browsertest.Screenshot(t, ctx, "xss-last-payload")
	assert.Zero(t, browsertest.Count(t, ctx, "#try-output script, #try-output img, #try-output iframe, #try-output svg"))
}

// TestGoldAnswersNeverRunAsScript writes every payload of the XSS corpus as a trainer's gold
// reply through the training screen, continues from it, and checks that the conversation
// shows it as readable text and that nothing ran.
func TestGoldAnswersNeverRunAsScript(t *testing.T) {
	t.Parallel()
	_, ctx, _ := trainWorld(t)
	marker := regexp.MustCompile(`测试\d+`)
	for i, payload := range render.XSSCorpus {
		generateInUI(t, ctx, fmt.Sprintf("问题 %d", i), 1)
		js, _ := json.Marshal(payload)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Focus(chromedp.CSS(`.pane[data-label="A"]`)),
			chromedp.KeyEvent("1"),
			chromedp.Evaluate[chromedp.Void](`(() => { const g = document.querySelector("#train-gold"); g.value = `+string(js)+`; g.dispatchEvent(new Event("input")); })()`),
			chromedp.Click(chromedp.CSS(`#train-judge input[value="gold"]`)),
			chromedp.Click(chromedp.CSS("#train-submit")),
			browsertest.Visible(`#train-save[data-state="submitted"]`),
		), "payload %d", i)
		flag, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__xss)`))
		require.NoError(t, err)
		assert.Equal(t, "undefined", flag, "gold payload %d ran: %s", i, payload)
		require.Eventually(t, func() bool {
			return strings.Contains(browsertest.Text(t, ctx, "#train-path li:last-child .text"), marker.FindString(payload))
		}, 10*time.Second, 20*time.Millisecond, "gold payload %d is readable", i)
	}
	assert.Zero(t, browsertest.Count(t, ctx, "#train-path script, #train-path img, #train-path iframe, #train-path svg"))
	browsertest.Screenshot(t, ctx, "xss-gold")
}
