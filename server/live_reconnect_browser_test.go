package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/prompts"
)

// The trainer's screen and its live socket when the page or the socket goes away under the
// trainer (issue 12).

// heldRequests pauses the browser's requests whose URL matches pattern, after the first
// `pass` of them, until release; the others go on at once.
type heldRequests struct {
	ctx  context.Context
	mu   sync.Mutex
	seen int
	pass int
	held []fetch.RequestID
	// done is closed once release has run: later matches go on at once.
	done bool
}

func holdRequests(t *testing.T, ctx context.Context, pattern string, pass int) *heldRequests {
	t.Helper()
	h := &heldRequests{ctx: ctx, pass: pass}
	// A listener may not run a command itself (chromedp.Listen): the request goes on from
	// a goroutine of its own.
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		paused, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		h.mu.Lock()
		h.seen++
		hold := h.seen > h.pass && !h.done
		if hold {
			h.held = append(h.held, paused.RequestID)
		}
		h.mu.Unlock()
		if !hold {
			go h.continueRequest(paused.RequestID)
		}
	}))
	_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
	require.NoError(t, err)
	t.Cleanup(h.release)
	return h
}

func (h *heldRequests) continueRequest(id fetch.RequestID) {
	chromedp.Call(h.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id}) //nolint:errcheck // the page may be gone
}

// waitHeld waits until n requests are held.
func (h *heldRequests) waitHeld(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.held) >= n
	}, 30*time.Second, 10*time.Millisecond, "%d requests held", n)
}

// release lets every held request go on, and every later one.
func (h *heldRequests) release() {
	h.mu.Lock()
	held := h.held
	h.held, h.done = nil, true
	h.mu.Unlock()
	for _, id := range held {
		h.continueRequest(id)
	}
}

// TestLanguageSwitchWhileACatalogLoads is the flake of TestJudgmentByKeyboardAlone made
// certain. The test helper switched the language with two change events (chromedp's SetValue
// sends one, and the helper another); when the second switch's catalog came late, the first
// switch's page said it was ready, the test clicked Generate on it, and the second switch's
// render then closed that page's socket: the generate went into a closed socket ("WebSocket
// is already in CLOSING or CLOSED state") and no turn started. Here the second catalog is held
// until the first switch's page is built: that page must not say it is ready, and once the
// catalog comes, the page that stays starts a turn.
func TestLanguageSwitchWhileACatalogLoads(t *testing.T) {
	t.Parallel()
	_, _, ctx, _ := screenWorld(t, auth.RoleTrainer)
	catalogs := holdRequests(t, ctx, "*/static/locales/*", 1)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector(".page.train").dataset.old = "1"`),
		chromedp.SetValue(chromedp.CSS("#locale-select"), "en"),                                                         // one change event
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#locale-select").dispatchEvent(new Event("change"))`), // and a second
		browsertest.Visible(`.page.train:not([data-old]) #train-generate`),
	))
	catalogs.waitHeld(t, 1)
	assert.Equal(t, "false", browsertest.Attr(t, ctx, "body", "data-ready"),
		"a page built while another language switch is still loading is not ready: it is about to be replaced")

	catalogs.release()
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`html[lang="en"]`), browsertest.Visible(`body[data-ready="true"]`)))
	browsertest.AskOnTrainScreen(t, ctx, "个人邮寄进境物品的免税额是多少？", 4)
}

// gatedUpstream answers every model with replyOf's text in pieces of 12 characters: the
// first two at once, the rest only after release.
type gatedUpstream struct {
	srv  *httptest.Server
	gate chan struct{}
	once sync.Once
}

func newGatedUpstream(t *testing.T) *gatedUpstream {
	t.Helper()
	u := &gatedUpstream{gate: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&body) //nolint:errcheck // a bad body answers with the empty model's reply
		w.Header().Set("Content-Type", "text/event-stream")
		reply := []rune(replyOf(body.Model))
		for i := 0; i < len(reply); i += 12 {
			if i == 24 && strings.HasSuffix(r.URL.Path, "/chat/completions") { // not the models' probes
				select {
				case <-u.gate:
				case <-r.Context().Done():
					return
				}
			}
			piece, _ := json.Marshal(string(reply[i:min(i+12, len(reply))]))
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", piece)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(u.release)
	t.Cleanup(u.srv.Close)
	return u
}

func (u *gatedUpstream) release() { u.once.Do(func() { close(u.gate) }) }

// TestTrainScreenReconnectsAndResumes closes the trainer's socket from the server in the
// middle of a turn, as the server does to re-check a user's sessions: the session still
// holds, so the screen connects again by itself, resumes the turn where it was, and every
// candidate finishes with its whole reply; the next question starts a turn on the new socket.
// Once the session has really ended, the screen does not reconnect but asks to sign in. Before, the screen took any 1008 close for a sign-out: it said the session had ended,
// never reconnected, and the candidates stayed "streaming".
func TestTrainScreenReconnectsAndResumes(t *testing.T) {
	t.Parallel()
	u := newGatedUpstream(t)
	f := newFixture(t, discardLogger(), options{env: map[string]string{"OPENAI_BASE_URL": u.srv.URL, "MENTOR_OPENAI_MODELS": "alpha,beta"}})
	f, ctx, customs := trainWorldAs(t, f, auth.RoleTrainer)
	var trainer int64
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT id FROM users WHERE login = 'trainer'`).Scan(&trainer))
	// The demo's versions answer with the built-in offline models, at once: two newer ones
	// have the gated upstream's models, and a turn of two candidates takes the newest two.
	ps := prompts.NewStore(f.pool)
	versions, err := ps.Versions(context.Background(), customs)
	require.NoError(t, err)
	for _, model := range []string{"alpha", "beta"} {
		v := versions[0]
		v.Model, v.ChangeNote = model, "the gated upstream's "+model
		_, err := ps.PublishVersion(context.Background(), customs, v)
		require.NoError(t, err)
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		document.querySelector("#train-n").value = "2";
		document.querySelector("#train-message").value = "个人邮寄进境物品的免税额是多少？";
		document.querySelector("#train-generate").click();
	})()`)))
	// Both candidates have their first pieces on screen, and wait for the rest.
	require.Eventually(t, func() bool {
		return eval[bool](t, ctx, `(() => { const ps = [...document.querySelectorAll("#train-panes .pane[data-status=streaming]")];
			return ps.length === 2 && ps.every((p) => p.textContent.includes("结论")); })()`)
	}, 30*time.Second, 20*time.Millisecond, "two candidates streaming")

	f.engine.CloseUser(context.Background(), trainer) // 1008: the server re-checks the user's sockets
	u.release()

	browsertest.WaitTrainScreenSettled(t, ctx, 2)
	assert.Equal(t, 2, browsertest.Count(t, ctx, `#train-panes .pane[data-status="complete"]`))
	for _, label := range []string{"A", "B"} {
		text := browsertest.Text(t, ctx, fmt.Sprintf(`#train-panes .pane[data-label=%q]`, label))
		assert.True(t, strings.Contains(text, "免征") && strings.Contains(text, "报关手续"), "candidate %s has its whole reply: %q", label, text)
	}
	assert.NotEqual(t, "0", browsertest.Attr(t, ctx, "#train-live", "data-reconnects"), "the screen connected again")
	assert.False(t, browsertest.Shown(t, ctx, "#train-live"), "and no longer says it is reconnecting")
	assert.NotContains(t, browsertest.Text(t, ctx, "#train-status"), "登录已失效", "the session did not end")
	viewportShot(t, ctx, "train-resumed-after-server-close")

	// The new socket carries the next question.
	browsertest.AskOnTrainScreen(t, ctx, "超过限额怎么办？", 2)

	// A session that has really ended (here: deleted, as a sign-out elsewhere does) is not
	// reconnected: the screen learns it from GET /session and goes back to the sign-in form.
	_, err = f.pool.Exec(context.Background(), `DELETE FROM sessions WHERE user_id = $1`, trainer)
	require.NoError(t, err)
	f.engine.CloseUser(context.Background(), trainer)
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible("#signin-form")))
}
