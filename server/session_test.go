package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/server"
)

// TestRolesInPlainWords spells out what matters most, independently of the route table,
// so that a wrong rule in the table fails here even though the matrix test follows it.
func TestRolesInPlainWords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	persona := fmt.Sprintf("/api/v1/personas/%d", w.a.persona)
	version := map[string]any{"template": "你好", "model": "baseline-extractive"}
	tests := []struct {
		who, method, path string
		body              any
		want              int
	}{
		{"trainer", "POST", persona + "/versions/1/try", map[string]any{"message": "你好"}, 200},
		{"trainer", "POST", persona + "/versions", version, 403},
		{"trainer", "GET", "/api/v1/projects/proj-a/members", nil, 403},
		{"trainer", "GET", "/api/v1/users", nil, 403},
		{"trainer", "GET", fmt.Sprintf("/api/v1/personas/%d", w.b.persona), nil, 404},
		{"viewer", "POST", persona + "/versions/1/try", map[string]any{"message": "你好"}, 403},
		{"viewer", "GET", persona, nil, 200},
		{"reviewer", "POST", persona + "/versions", version, 403},
		{"admin", "POST", persona + "/versions", version, 201},
		{"admin", "POST", "/api/v1/projects", map[string]any{"name": "x"}, 403},
		{"admin", "GET", "/api/v1/projects/proj-b", nil, 404},
		{"outsider", "GET", "/api/v1/projects/proj-a", nil, 404},
		{"root", "POST", "/api/v1/projects", map[string]any{"name": "新项目"}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.method+" "+tt.path, func(t *testing.T) {
			status, body := w.members[tt.who].call(t, tt.method, tt.path, tt.body)
			assert.Equal(t, tt.want, status, body)
		})
	}
	// A non-member's 404 is word for word the 404 for a project that does not exist.
	_, hidden := w.members["outsider"].call(t, "GET", "/api/v1/projects/proj-a", nil)
	_, missing := w.members["outsider"].call(t, "GET", "/api/v1/projects/proj-zzz", nil)
	assert.Equal(t, strings.Replace(errorMessage(missing), "proj-zzz", "proj-a", 1), errorMessage(hidden))

	// Project lists show only one's own projects.
	_, list := w.members["trainer"].call(t, "GET", "/api/v1/projects", nil)
	require.Len(t, list["projects"], 1)
	assert.Equal(t, "proj-a", list["projects"].([]any)[0].(map[string]any)["slug"])
}

func errorMessage(body map[string]any) string {
	_, _, m := errorOf(body)
	return m
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.user(t, "wang@example.com", false)
	anon := f.anonymous()

	for _, tt := range []struct{ name, login, password string }{
		{"wrong password", "wang@example.com", "not the password"},
		{"unknown login", "nobody@example.com", testPassword},
	} {
		status, body := anon.call(t, "POST", "/api/v1/session", map[string]any{"login": tt.login, "password": tt.password})
		assert.Equal(t, http.StatusUnauthorized, status, tt.name)
		assert.Equal(t, "wrong login or password", errorMessage(body), "%s: the same answer, whatever was wrong", tt.name)
	}

	res := anon.request(t, "POST", "/api/v1/session", map[string]any{"login": "  Wang@Example.com ", "password": testPassword})
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "mentor_session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
	assert.False(t, cookie.Secure, "plain HTTP in the test: Secure would lose the cookie")
	assert.Len(t, cookie.Value, 43, "32 random bytes")

	// Signing in again rotates the session: the old cookie no longer works.
	again := f.signIn(t, "wang@example.com")
	stale := f.anonymous()
	stale.http.Jar.SetCookies(mustURL(f.srv.URL), []*http.Cookie{{Name: "mentor_session", Value: cookie.Value}})
	status, _ := stale.call(t, "GET", "/api/v1/session", nil)
	assert.Equal(t, http.StatusOK, status, "a different browser's sign-in does not end this one")
	status, _ = again.call(t, "GET", "/api/v1/session", nil)
	assert.Equal(t, http.StatusOK, status)

	status, _ = again.call(t, "DELETE", "/api/v1/session", nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = again.call(t, "GET", "/api/v1/session", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "signed out")

	events := auditActions(t, f)
	assert.Contains(t, events, audit.SignInFailed)
	assert.Contains(t, events, audit.SignIn)
	assert.Contains(t, events, audit.SignOut)
}

func auditActions(t *testing.T, f fixture) []string {
	t.Helper()
	_, body := f.admin.call(t, "GET", "/api/v1/audit", nil)
	var out []string
	for _, e := range body["events"].([]any) {
		out = append(out, e.(map[string]any)["action"].(string))
	}
	return out
}

func TestSignInIsThrottledAfterRepeatedFailures(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.user(t, "li", false)
	anon := f.anonymous()
	for i := 1; i <= 6; i++ {
		status, _ := anon.call(t, "POST", "/api/v1/session", map[string]any{"login": "li", "password": fmt.Sprint("guess ", i)})
		require.Equal(t, http.StatusUnauthorized, status, "attempt %d is checked and refused", i)
	}
	res := anon.request(t, "POST", "/api/v1/session", map[string]any{"login": "li", "password": testPassword})
	res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "from this address, even the right password waits out the delay")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
}

func TestConcurrentGuessesAreNotAllChecked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.user(t, "zheng", false)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 20 {
		wg.Go(func() {
			status, _ := f.anonymous().call(t, "POST", "/api/v1/session", map[string]any{"login": "zheng", "password": fmt.Sprint("guess ", i)})
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, 6, statuses[http.StatusUnauthorized], "only six of twenty simultaneous guesses are checked")
	assert.Equal(t, 14, statuses[http.StatusTooManyRequests])
}

func TestChangingThePasswordSaysNothingUntilTheNewOneIsValid(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.user(t, "feng", false)
	feng := f.signIn(t, "feng")
	for _, current := range []string{"a wrong guess", testPassword} {
		status, body := feng.call(t, "PUT", "/api/v1/session/password", map[string]any{"current_password": current, "new_password": ""})
		assert.Equal(t, http.StatusBadRequest, status)
		_, field, _ := errorOf(body)
		assert.Equal(t, "new_password", field, "the same answer whether the guess was right or not")
	}
	status, body := feng.call(t, "PUT", "/api/v1/session/password", map[string]any{"current_password": "a wrong guess", "new_password": "a long new password"})
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, _ := errorOf(body)
	assert.Equal(t, "current_password", field)
	assert.Contains(t, auditActions(t, f), audit.SignInFailed, "a wrong current password is audited like a failed sign-in")
}

func TestCSRFAndOrigin(t *testing.T) {
	t.Parallel()
	f := setup(t)
	noToken := *f.admin
	noToken.csrf = ""
	status, body := noToken.call(t, "POST", "/api/v1/projects", map[string]any{"name": "x"})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, errorMessage(body), "X-CSRF-Token")

	wrong := *f.admin
	wrong.csrf = "forged"
	status, _ = wrong.call(t, "POST", "/api/v1/projects", map[string]any{"name": "x"})
	assert.Equal(t, http.StatusForbidden, status)

	status, _ = f.admin.call(t, "POST", "/api/v1/projects", map[string]any{"name": "有令牌"})
	assert.Equal(t, http.StatusCreated, status)

	// Reads need no token.
	status, _ = noToken.call(t, "GET", "/api/v1/projects", nil)
	assert.Equal(t, http.StatusOK, status)
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.members["admin"]
	mk := func(scopes ...string) string {
		status, body := admin.call(t, "POST", "/api/v1/tokens", map[string]any{"name": "脚本 " + strings.Join(scopes, "+"), "scopes": scopes, "password": testPassword})
		require.Equal(t, http.StatusCreated, status, body)
		secret := body["secret"].(string)
		assert.True(t, strings.HasPrefix(secret, "mnt_"))
		return secret
	}
	secrets := []string{mk("read"), mk("export"), mk("write")}
	read, export, write := w.withToken(secrets[0]), w.withToken(secrets[1]), w.withToken(secrets[2])
	status, body := admin.call(t, "POST", "/api/v1/tokens", map[string]any{"name": "x", "scopes": []string{"read"}, "password": "not it"})
	assert.Equal(t, http.StatusBadRequest, status, "a token needs the current password")
	_, field, _ := errorOf(body)
	assert.Equal(t, "password", field)

	status, _ = read.call(t, "GET", "/api/v1/projects/proj-a/personas", nil)
	assert.Equal(t, http.StatusOK, status, "a read token reads")
	status, body = read.call(t, "POST", fmt.Sprintf("/api/v1/personas/%d/versions", w.a.persona), map[string]any{"template": "x", "model": "baseline-extractive"})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, errorMessage(body), "token's scopes")
	status, _ = write.call(t, "POST", fmt.Sprintf("/api/v1/personas/%d/versions", w.a.persona), map[string]any{"template": "x", "model": "baseline-extractive"})
	assert.Equal(t, http.StatusCreated, status, "a write token writes, as far as the owner's role allows, and needs no CSRF token")
	status, _ = write.call(t, "GET", "/api/v1/projects/proj-b", nil)
	assert.Equal(t, http.StatusNotFound, status, "never beyond the owner's projects")

	// An export token cannot delete or change anything, on any route, but for creating an
	// export: the one write it is for (a snapshot and an audit event, no training data).
	for _, rr := range server.RouteRules() {
		if rr.Method == "GET" || rr.Permission == "public" || rr.Permission == auth.ProjectRead || rr.Permission == auth.Export {
			continue // reads, and POSTs that only compute (evaluating retrieval), change nothing
		}
		status, _ := export.call(t, rr.Method, w.path(rr, w.a), map[string]any{})
		assert.Contains(t, []int{403, 404}, status, "%s %s with an export token", rr.Method, rr.Path)
	}
	// Tokens cannot manage the account, create tokens or administer.
	status, _ = write.call(t, "POST", "/api/v1/tokens", map[string]any{"name": "x", "scopes": []string{"write"}})
	assert.Equal(t, http.StatusForbidden, status)

	// A revoked token is refused.
	_, list := admin.call(t, "GET", "/api/v1/tokens", nil)
	tokens := list["tokens"].([]any)
	require.Len(t, tokens, 3)
	assert.NotNil(t, tokens[len(tokens)-1].(map[string]any)["last_used_at"], "use is recorded")
	for _, secret := range secrets {
		assert.NotContains(t, fmt.Sprint(list), secret, "the list never shows a secret")
	}
	first := tokens[len(tokens)-1].(map[string]any)
	status, _ = admin.call(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%v", first["id"]), nil)
	require.Equal(t, http.StatusNoContent, status)
	status, body = read.call(t, "GET", "/api/v1/projects/proj-a", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, errorMessage(body), "revoked")

	bad := w.withToken("mnt_not-a-real-token")
	status, _ = bad.call(t, "GET", "/api/v1/projects", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestDisablingAUserEndsTheirSessionsAndSockets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{})
	u := f.user(t, "zhao", false)
	zhao := f.signIn(t, "zhao")
	conn := dialWS(t, f, zhao, "")

	status, _ := f.admin.call(t, "PUT", fmt.Sprintf("/api/v1/users/%d/disabled", u.ID), map[string]any{"disabled": true})
	require.Equal(t, http.StatusOK, status)

	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "the socket is closed by the server: %v", err)
	assert.Equal(t, websocket.ClosePolicyViolation, ce.Code)

	status, _ = zhao.call(t, "GET", "/api/v1/session", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the session is gone too")
	status, _ = f.anonymous().call(t, "POST", "/api/v1/session", map[string]any{"login": "zhao", "password": testPassword})
	assert.Equal(t, http.StatusUnauthorized, status, "and a disabled account cannot sign in")
	assert.Contains(t, auditActions(t, f), audit.UserDisabled)
}

func TestSocketClosesWhenItsSessionEnds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{check: 50 * time.Millisecond})
	f.user(t, "qian", false)
	qian := f.signIn(t, "qian")
	conn := dialWS(t, f, qian, "")
	status, _ := qian.call(t, "DELETE", "/api/v1/session", nil)
	require.Equal(t, http.StatusNoContent, status)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "session ended", ce.Text)
}

func TestWebsocketHandshakeAndMessages(t *testing.T) {
	t.Parallel()
	f := setup(t)

	// A page on another site cannot open a socket with the trainer's cookie.
	_, res, err := dialWSResponse(f, f.admin, "https://evil.example")
	require.Error(t, err)
	require.NotNil(t, res)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	_, res, err = dialWSResponse(f, f.anonymous(), "")
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)

	conn := dialWS(t, f, f.admin, "")
	read := func() map[string]any {
		t.Helper()
		var e map[string]any
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		require.NoError(t, conn.ReadJSON(&e))
		return e
	}
	tests := []struct {
		name, send, wantType, wantMessage string
	}{
		{"heartbeat", `{"type":"heartbeat","id":"h1"}`, "heartbeat", ""},
		{"malformed JSON", `{"type":`, "error", "malformed JSON"},
		{"unknown type", `{"type":"dance"}`, "error", `unknown message type "dance"`},
		{"still open after errors", `{"type":"heartbeat","id":"h2"}`, "heartbeat", ""},
	}
	for _, tt := range tests {
		require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(tt.send)), tt.name)
		e := read()
		assert.Equal(t, tt.wantType, e["type"], tt.name)
		if tt.wantMessage != "" {
			assert.Contains(t, e["message"], tt.wantMessage, tt.name)
		}
	}

	// An oversized message closes the socket with 1009. The server closes as soon as it has
	// read past the limit, so the rest of the client's write may meet a reset, and a reset
	// can beat the close frame to the client: a few fresh sockets, and one must see 1009.
	oversized := []byte(`{"type":"heartbeat","pad":"` + strings.Repeat("x", 70<<10) + `"}`)
	var codes []string
	for attempt := range 5 {
		if attempt > 0 {
			conn = dialWS(t, f, f.admin, "")
		}
		go conn.WriteMessage(websocket.TextMessage, oversized) //nolint:errcheck // see above
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err = conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
			return
		}
		codes = append(codes, err.Error())
	}
	t.Fatalf("no 1009 close in 5 tries: %v", codes)
}

func dialWSResponse(f fixture, c *client, origin string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/api/v1/ws"
	h := http.Header{}
	for _, ck := range c.http.Jar.Cookies(mustURL(f.srv.URL)) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	if origin == "" {
		origin = f.srv.URL
	}
	h.Set("Origin", origin)
	h.Set("Accept-Language", "en") // as the test clients' REST calls (fixture_test.go)
	return websocket.DefaultDialer.Dial(u, h)
}

func dialWS(t *testing.T, f fixture, c *client, origin string) *websocket.Conn {
	t.Helper()
	conn, res, err := dialWSResponse(f, c, origin)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// personaOn makes a project, a persona and its version 1 (baseline model), and returns the
// persona's API path.
func personaOn(t *testing.T, f fixture) string {
	t.Helper()
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "限额"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	_, err = ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	return fmt.Sprintf("/api/v1/personas/%d", persona.ID)
}

func TestConcurrentGenerationLimit(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"好\"}}]}\n\n")
		w.(http.Flusher).Flush()
		select { // hold the stream open until the test is done with it
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(release) })
	f := newFixture(t, discardLogger(), options{
		env:    map[string]string{"OPENAI_BASE_URL": upstream.URL, "MENTOR_OPENAI_MODELS": "slow"},
		limits: live.Limits{Concurrent: 1},
	})
	persona := personaOn(t, f)

	slow := f.admin.request(t, "POST", persona+"/versions/1/try", map[string]any{"message": "你好", "model": "slow"})
	t.Cleanup(func() { slow.Body.Close() })
	require.Equal(t, http.StatusOK, slow.StatusCode)
	buf := make([]byte, 16)
	_, err := slow.Body.Read(buf) // the meta event: the generation is running
	require.NoError(t, err)

	status, body := f.admin.call(t, "POST", persona+"/versions/1/try", map[string]any{"message": "你好"})
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, errorMessage(body), "already have 1 generations running")

	// Another user has their own allowance.
	f.user(t, "sun", true)
	other := f.signIn(t, "sun")
	res := other.request(t, "POST", persona+"/versions/1/try", map[string]any{"message": "你好"})
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestHourlyGenerationLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{limits: live.Limits{PerHour: 2}})
	persona := personaOn(t, f)
	for i := 1; i <= 2; i++ {
		res := f.admin.request(t, "POST", persona+"/versions/1/try", map[string]any{"message": "你好"})
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "generation %d", i)
	}
	status, body := f.admin.call(t, "POST", persona+"/versions/1/try", map[string]any{"message": "你好"})
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Contains(t, errorMessage(body), "this hour's 2 generations")
}

func TestSessionCookieIsSecureBehindATLSProxy(t *testing.T) {
	t.Parallel()
	secureCookie := func(f fixture, forwardedProto string) bool {
		t.Helper()
		f.user(t, "proxy-user", false)
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/session", strings.NewReader(`{"login":"proxy-user","password":"`+testPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Proto", forwardedProto)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		for _, c := range res.Cookies() {
			if c.Name == "mentor_session" {
				return c.Secure
			}
		}
		t.Fatal("no session cookie")
		return false
	}
	behindProxy := newFixture(t, discardLogger(), options{trustedProxies: []string{"127.0.0.1"}})
	assert.True(t, secureCookie(behindProxy, "https"), "the trusted proxy says the browser used TLS")
	direct := newFixture(t, discardLogger(), options{})
	assert.False(t, secureCookie(direct, "https"), "with no trusted proxy the header is ignored")
}
