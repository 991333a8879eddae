package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/server"
	"github.com/mentor-ai/mentor/webhook"
)

// fixture is a real server on a real database, with an instance admin signed in.
type fixture struct {
	pool   *pgxpool.Pool
	srv    *httptest.Server
	models *llm.Registry
	auth   *auth.Store
	engine *live.Engine
	deps   server.Deps // what the server was built from
	admin  *client
	// stopHub does what shutdown does to live streams: stops them as interrupted and closes
	// the sockets. It waits until that is done.
	stopHub func()
	// proxy stands between the pool and Postgres when options.viaProxy is set, so a test
	// can take the database down (proxy.Down) and bring it back (proxy.Up).
	proxy *pgtest.Proxy
	// roundTrips counts the pool's round trips when options.countTrips is set (issue 17).
	roundTrips *pgtest.RoundTrips
}

type options struct {
	env    map[string]string
	limits live.Limits
	idle   time.Duration
	check  time.Duration // how often the engine re-checks sessions
	// trustedProxies are the addresses whose X-Forwarded-* headers count.
	trustedProxies []string
	modelsFile     string
	viaProxy       bool // connect the server's pool through fixture.proxy
	countTrips     bool // count the pool's round trips in fixture.roundTrips (issue 17)
}

func setup(t *testing.T) fixture {
	t.Helper()
	return newFixture(t, slog.New(slog.NewTextHandler(tWriter{t}, nil)), options{})
}

func setupBench(b *testing.B) fixture {
	b.Helper()
	return newFixture(b, slog.New(slog.DiscardHandler), options{})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

const testPassword = "correct horse battery"

func newFixture(t testing.TB, logger *slog.Logger, o options) fixture {
	t.Helper()
	var pool *pgxpool.Pool
	var proxy *pgtest.Proxy
	var roundTrips *pgtest.RoundTrips
	if o.viaProxy {
		proxy = pgtest.NewProxy(t, pgtest.URL(t))
		var err error
		pool, err = db.Connect(context.Background(), proxy.URL())
		require.NoError(t, err)
		t.Cleanup(pool.Close)
	} else if o.countTrips {
		pool, roundTrips = pgtest.CountingPool(t, 32)
	} else {
		pool = pgtest.Pool(t)
	}
	models, err := llm.NewRegistry(context.Background(), llm.RegistryConfig{ModelsFile: o.modelsFile, Getenv: func(k string) string { return o.env[k] }})
	require.NoError(t, err)
	if o.idle == 0 {
		o.idle = time.Hour
	}
	if o.check == 0 {
		o.check = time.Hour
	}
	ps, rs, as := prompts.NewStore(pool), retrieval.NewStore(pool, nil, nil), auth.NewStore(pool, nil)
	sessions := auth.SessionLimits{Idle: o.idle, Absolute: 24 * time.Hour}
	liveStore, generator := rlhf.NewStore(pool), generation.New(rs, models, nil)
	engine, err := live.New(live.Deps{Logger: logger, Pool: pool, Auth: as, Store: liveStore, Prompts: ps, Models: models, Generator: generator,
		Renderer: render.New(), Decode: server.DecodeCommand, CheckNUL: server.CheckNUL},
		live.Config{Replica: "test-" + t.Name(), Lease: 15 * time.Second, Sweep: 5 * time.Second, Check: o.check, Limits: o.limits, Sessions: sessions})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); engine.Run(ctx) }()
	stopHub := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stopHub)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	deps := server.Deps{
		Logger: logger, Pool: pool, Registry: prometheus.NewRegistry(), Version: "test",
		Prompts: ps, Retrieval: rs, Models: models, Generator: generator,
		Auth: as, Audit: audit.New(pool), Sessions: sessions, Engine: engine, Live: liveStore,
		TrustedProxies: o.trustedProxies, Webhooks: webhook.NewStore(pool, nil, webhook.Guard{}),
		// Campaigns: the package's own tests drive them; here they only need to exist.
		Campaigns: campaign.NewStore(pool, models, queue, campaign.Options{Logger: logger}), Bases: base.NewStore(pool, as),
		// Leaderboards (issue 15).
		Leaderboards: leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{}),
		Agreement:    agreement.NewRefresher(pool, nil, logger),
	}
	// Quality control, part A (issue 14): its tests go through run (cmd/mentor).
	deps.Reviews = review.NewStore(pool, liveStore, nil)
	deps.Acceptance = acceptance.NewStore(pool, deps.Reviews, nil, nil)
	h, err := server.New(deps)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f := fixture{pool: pool, srv: srv, models: models, auth: as, engine: engine, stopHub: stopHub, deps: deps, proxy: proxy, roundTrips: roundTrips}
	f.user(t, "root", true)
	f.admin = f.signIn(t, "root")
	return f
}

// user creates an account with testPassword.
func (f fixture) user(t testing.TB, login string, admin bool) auth.User {
	t.Helper()
	u, err := f.auth.CreateUser(context.Background(), auth.NewUser{Login: login, DisplayName: "用户 " + login, Password: testPassword, IsAdmin: admin})
	require.NoError(t, err)
	return u
}

// member creates an account with a role in a project and signs it in.
func (f fixture) member(t testing.TB, login string, projectID int64, role auth.Role) *client {
	t.Helper()
	u := f.user(t, login, false)
	require.NoError(t, f.auth.SetRole(context.Background(), projectID, u.ID, role))
	return f.signIn(t, login)
}

// client is a browser-like HTTP client: its own cookie jar, and the session's CSRF token
// on every write.
type client struct {
	f      fixture
	http   *http.Client
	csrf   string
	bearer string
	// lang is the Accept-Language it sends, if any. Clients start with English, so that tests
	// can read the messages the code says; the tests of translated errors choose another.
	lang string
}

func (f fixture) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, http: &http.Client{Jar: jar}, lang: "en"}
}

// speaking returns a client like c (the same session) that sends Accept-Language: lang, or
// none when lang is "".
func (c *client) speaking(lang string) *client {
	other := *c
	other.lang = lang
	return &other
}

func (f fixture) signIn(t testing.TB, login string) *client {
	t.Helper()
	c := f.anonymous()
	status, body := c.call(t, "POST", "/api/v1/session", map[string]any{"login": login, "password": testPassword})
	require.Equal(t, http.StatusOK, status, body)
	c.csrf = body["csrf_token"].(string)
	return c
}

func (f fixture) withToken(secret string) *client {
	c := f.anonymous()
	c.bearer = secret
	return c
}

// headers are what a request needs to act as c from another process (issue 17's load
// generator): its session cookie and CSRF token.
func (c *client) headers(t testing.TB) map[string]string {
	t.Helper()
	h := map[string]string{}
	var cookies []string
	for _, k := range c.http.Jar.Cookies(mustURL(c.f.srv.URL)) {
		cookies = append(cookies, k.Name+"="+k.Value)
	}
	if len(cookies) > 0 {
		h["Cookie"] = strings.Join(cookies, "; ")
	}
	if c.csrf != "" {
		h["X-CSRF-Token"] = c.csrf
	}
	return h
}

func (c *client) request(t testing.TB, method, path string, body any) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.f.srv.URL+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	res, err := c.http.Do(req)
	require.NoError(t, err)
	return res
}

// call sends a JSON request and decodes the JSON answer.
func (c *client) call(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	res := c.request(t, method, path, body)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	contract, err := theContract()
	require.NoError(t, err, "the OpenAPI contract")
	contract.check(t, method, path, res.StatusCode, res.Header.Get("Content-Type"), raw)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return res.StatusCode, out
}

// call is the admin's call, for tests about something other than access.
func call(t *testing.T, f fixture, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return f.admin.call(t, method, path, body)
}

// tWriter sends log lines to t.Log, so they show only for failing tests.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
