// Package browsertest drives Debian's Chromium, headless, from Go tests through chromedp.
//
// It never downloads a browser: `make test` installs Debian's chromium package, and a test
// run without it fails with a message saying so rather than skipping.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium may name the browser binary; otherwise chromium is looked up on PATH.
const EnvChromium = "MENTOR_CHROMIUM"

// browsers bounds how many Chromium instances a test process runs at once: each is heavy,
// and on a two-core machine a crowd of them makes every page slow enough to time out.
// A test waiting for a slot has not started its clock yet.
var browsers = make(chan struct{}, 2)

// New starts a fresh headless Chromium with an empty profile and returns a context for
// chromedp actions, bounded by timeout. Uncaught JavaScript exceptions and console errors
// (a Content-Security-Policy violation among them) fail the test; HTTP error responses,
// which the browser also logs, do not.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatalf("no Chromium found: run the tests with `make test`, which installs Debian's chromium, or set %s", EnvChromium)
	}
	browsers <- struct{}{}
	t.Cleanup(func() { <-browsers })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no network beyond localhost: keep Chromium from trying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Most trainers browse in Chinese; a test that wants English switches in the UI.
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh,en"),
		chromedp.WindowSize(1366, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Start the browser on a context with no deadline: the first Do binds the browser's life
	// to its context. The deadline applies to the actions that follow.
	if err := chromedp.Do(browserCtx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("browser: start %s: %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, timeout)

	messages := chromedp.Console(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return // the context ended
			}
			// A failed request is logged by the network layer; the page handles HTTP errors
			// itself, and tests check what it shows. Everything else at error level fails.
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.IsException() {
				t.Errorf("browser: console %s at %s:%d: %s", m.Type, m.URL, m.Line+1, m)
			}
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		<-consoleDone // no t.Errorf may run after the test returns
		cancelBrowser()
		cancelAlloc()
	})
	return ctx
}

// Screenshot saves a full-page PNG under the test's artifact directory
// (kept when go test runs with -artifacts, as `make test` does).
func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 means PNG
	if err != nil {
		t.Errorf("browser: screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("browser: save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// Visible waits until an element matching css is in the page and has a layout box. It asks
// the page itself, every 25 ms, rather than chromedp's mirror of the DOM, which can miss
// nodes that a script inserts with replaceChildren.
func Visible(css string) chromedp.Action[chromedp.Void] {
	check := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.getClientRects().length > 0; })()`, jsString(css)))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := check(ctx, t)
			if err != nil {
				return chromedp.Void{}, fmt.Errorf("wait for %s: %w", css, err)
			}
			if ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("wait for %s: %w", css, ctx.Err())
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

// Text returns the text of the first element matching css, or "" when there is none (a
// page being re-rendered), so it can be polled.
func Text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s)?.innerText ?? ""`, jsString(css))))
	if err != nil {
		t.Fatalf("browser: text of %s: %v", css, err)
	}
	return s
}

// Attr returns an attribute of the first element matching css.
func Attr(t *testing.T, ctx context.Context, css, name string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s)?.getAttribute(%s) ?? ""`, jsString(css), jsString(name))))
	if err != nil {
		t.Fatalf("browser: %s of %s: %v", name, css, err)
	}
	return s
}

// Count returns how many elements match css.
func Count(t *testing.T, ctx context.Context, css string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(css))))
	if err != nil {
		t.Fatalf("browser: count %s: %v", css, err)
	}
	return n
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Value returns the value of the first form control matching css.
func Value(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s).value`, jsString(css))))
	if err != nil {
		t.Fatalf("browser: value of %s: %v", css, err)
	}
	return s
}

// Shown reports whether the first element matching css is in the layout (not hidden).
func Shown(t *testing.T, ctx context.Context, css string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); return !!e && e.getClientRects().length > 0; })()`, jsString(css))))
	if err != nil {
		t.Fatalf("browser: is %s shown: %v", css, err)
	}
	return ok
}

// AskOnTrainScreen asks a question with n candidates on the trainer's screen and waits
// until the new turn (not the previous one, still on screen until the new one arrives) has
// n candidates and none is streaming.
func AskOnTrainScreen(t *testing.T, ctx context.Context, question string, n int) {
	t.Helper()
	before := Attr(t, ctx, "#train-panes", "data-turn")
	// One script in the page rather than three node lookups: a page re-rendered between them
	// (a language switch just before) leaves chromedp holding nodes that are gone.
	ask := fmt.Sprintf(`(() => {
		document.querySelector("#train-n").value = %s;
		document.querySelector("#train-message").value = %s;
		document.querySelector("#train-generate").click();
	})()`, jsString(fmt.Sprint(n)), jsString(question))
	if err := chromedp.Do(ctx, Visible("#train-generate"), chromedp.Evaluate[chromedp.Void](ask)); err != nil {
		t.Fatalf("browser: ask %q: %v", question, err)
	}
	waitUntil(t, 30*time.Second, "a new turn starts", func() bool {
		turn := Attr(t, ctx, "#train-panes", "data-turn")
		return turn != "" && turn != before
	})
	WaitTrainScreenSettled(t, ctx, n)
}

// WaitTrainScreenSettled waits until the trainer's screen shows n candidates and none is
// streaming (after a reload, say).
func WaitTrainScreenSettled(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d candidates finish", n), func() bool {
		return Count(t, ctx, `#train-panes .pane`) == n && Count(t, ctx, `#train-panes .pane[data-status="streaming"]`) == 0
	})
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("browser: not within %s: %s", limit, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
