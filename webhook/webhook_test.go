package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/webhook"
)

func TestSignatureRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"judgment.submitted","data":{"judgment_id":7,"comment":"回答准确"}}`)
	good := webhook.Sign("whsec_a", now, body)
	ts := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	tests := []struct {
		name      string
		secret    string
		timestamp string
		signature string
		body      []byte
		at        time.Time
		wantErr   string
	}{
		{name: "as sent", secret: "whsec_a", timestamp: ts(now), signature: good, body: body, at: now.Add(time.Minute)},
		{name: "one of several signatures", secret: "whsec_a", timestamp: ts(now), signature: "v1=00ff, " + good, body: body, at: now},
		{name: "another secret", secret: "whsec_b", timestamp: ts(now), signature: good, body: body, at: now, wantErr: "does not match"},
		{name: "a changed body", secret: "whsec_a", timestamp: ts(now), signature: good, body: []byte(strings.Replace(string(body), "7", "8", 1)), at: now, wantErr: "does not match"},
		{name: "a changed timestamp", secret: "whsec_a", timestamp: ts(now.Add(time.Second)), signature: good, body: body, at: now, wantErr: "does not match"},
		{name: "replayed later", secret: "whsec_a", timestamp: ts(now), signature: good, body: body, at: now.Add(webhook.Tolerance + time.Second), wantErr: "replay"},
		{name: "from the future", secret: "whsec_a", timestamp: ts(now), signature: good, body: body, at: now.Add(-webhook.Tolerance - time.Second), wantErr: "replay"},
		{name: "not a timestamp", secret: "whsec_a", timestamp: "yesterday", signature: good, body: body, at: now, wantErr: "not Unix seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tt.secret, tt.timestamp, tt.signature, tt.body, tt.at)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {7, 32 * time.Minute}, {8, time.Hour}, {30, time.Hour}}
	var total time.Duration
	for n := 1; total < 24*time.Hour; n++ {
		total += webhook.Backoff(n)
		require.Less(t, n, 60, "a day of retries should take about 30 attempts")
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, webhook.Backoff(tt.attempt), "attempt %d", tt.attempt)
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		wantErr      string
	}{
		{name: "a public https URL", url: "https://93.184.216.34/hooks/mentor"},
		{name: "a public http URL with a port", url: "http://93.184.216.34:8080/h"},
		{name: "ftp", url: "ftp://93.184.216.34/x", wantErr: "must be an http or https URL"},
		{name: "no scheme", url: "hooks.example.com/x", wantErr: "must be an http or https URL"},
		{name: "no host", url: "https:///x", wantErr: "must name a host"},
		{name: "empty", url: " ", wantErr: "must not be empty"},
		{name: "credentials", url: "https://u:p@93.184.216.34/", wantErr: "user name or password"},
		{name: "loopback", url: "http://127.0.0.1:9000/", wantErr: "a loopback address"},
		{name: "localhost resolves to loopback", url: "http://localhost:9000/", wantErr: "refused"},
		{name: "IPv6 loopback", url: "http://[::1]/", wantErr: "a loopback address"},
		{name: "private", url: "http://10.1.2.3/", wantErr: "a private address"},
		{name: "private 192.168", url: "https://192.168.1.10/", wantErr: "a private address"},
		{name: "link-local (cloud metadata)", url: "http://169.254.169.254/latest/meta-data", wantErr: "a link-local address"},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]/", wantErr: "a loopback address"},
		{name: "unspecified", url: "http://0.0.0.0/", wantErr: "refused"},
		{name: "loopback allowed by the admin flag", url: "http://127.0.0.1:9000/", allowPrivate: true},
		{name: "the flag does not allow other schemes", url: "file:///etc/passwd", allowPrivate: true, wantErr: "must be an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.Guard{AllowPrivate: tt.allowPrivate}.CheckURL(context.Background(), tt.url)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "url", e.Field)
			assert.Equal(t, errs.Unprocessable, e.Kind, "422")
			assert.Contains(t, e.Message, tt.wantErr)
			assert.NotEqual(t, errs.Localize(err, errs.English), errs.Localize(err, errs.Chinese), "no zh-CN translation")
		})
	}
}

// receiver is an httptest endpoint that answers the codes it is given in turn (then the
// last one forever), and keeps what it received.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes []int
	got   []*http.Request
	raw   [][]byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := r.codes[0]
		if len(r.codes) > 1 {
			r.codes = r.codes[1:]
		}
		r.got, r.raw = append(r.got, req), append(r.raw, body)
		r.mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, "服务暂不可用")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// clock is a settable time for the deliverer.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type fixture struct {
	pool      *pgxpool.Pool
	store     *webhook.Store
	deliverer *webhook.Deliverer
	clock     *clock
	project   int64
	user      int64
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	sealer, err := webhook.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	// httptest listens on 127.0.0.1: these tests need the admin's allow-private flag.
	guard := webhook.Guard{AllowPrivate: true}
	f := fixture{pool: pool, store: webhook.NewStore(pool, sealer, guard), clock: &clock{now: time.Now()}}
	f.deliverer = webhook.NewDeliverer(pool, sealer, guard, f.clock.Now, nil)
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO projects (slug, name) VALUES ('hooks', '回调项目') RETURNING id`).Scan(&f.project))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO users (login, display_name, password_hash) VALUES ('owner', '负责人', 'x') RETURNING id`).Scan(&f.user))
	return f
}

func (f fixture) emit(t *testing.T, event webhook.Event, payload any) int {
	t.Helper()
	var n int
	require.NoError(t, pgx.BeginFunc(context.Background(), f.pool, func(tx pgx.Tx) error {
		var err error
		n, err = webhook.Emit(context.Background(), tx, f.project, event, payload)
		return err
	}))
	return n
}

// pending returns the ids of the endpoint's deliveries in status, oldest first.
func (f fixture) deliveries(t *testing.T, id int64) []webhook.Delivery {
	t.Helper()
	ds, err := f.store.Deliveries(context.Background(), f.project, id, 100)
	require.NoError(t, err)
	return ds
}

func codes(d webhook.Delivery) []int {
	var out []int
	for _, a := range d.Attempts {
		c := 0
		if a.StatusCode != nil {
			c = *a.StatusCode
		}
		out = append(out, c)
	}
	return out
}

func TestDeliveryRetriesUntilTheReceiverRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recv := newReceiver(t, 500, 502, 503, 204)
	hook, err := f.store.Create(ctx, f.project, f.user, webhook.NewWebhook{URL: recv.srv.URL + "/mentor", Events: []webhook.Event{webhook.JudgmentSubmitted}})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"), hook.Secret)

	assert.Equal(t, 0, f.emit(t, webhook.ExportReady, map[string]any{"snapshot_id": 1}), "not subscribed")
	require.Equal(t, 1, f.emit(t, webhook.JudgmentSubmitted, map[string]any{"judgment_id": 42, "comment": "准确"}))
	id := f.deliveries(t, hook.ID)[0].ID

	for i, want := range []string{"pending", "pending", "pending", "delivered"} {
		out, err := f.deliverer.Attempt(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, out.Status, "attempt %d: %s", i+1, out.Err)
		// Every attempt is signed with the secret shown at creation, at its own time.
		req := recv.got[i]
		require.NoError(t, webhook.Verify(hook.Secret, req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), recv.raw[i], f.clock.Now()),
			"attempt %d", i+1)
		f.clock.Advance(webhook.Backoff(i + 1))
	}
	d := f.deliveries(t, hook.ID)[0]
	assert.Equal(t, "delivered", d.Status)
	assert.Equal(t, []int{500, 502, 503, 204}, codes(d))
	assert.Contains(t, d.Attempts[0].Error, "HTTP 500: 服务暂不可用")
	assert.Empty(t, d.Attempts[3].Error)
	w, err := f.store.Get(ctx, f.project, hook.ID)
	require.NoError(t, err)
	assert.Zero(t, w.Failures, "a success clears the failures")

	// A job run again after success sends nothing more.
	out, err := f.deliverer.Attempt(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "delivered", out.Status)
	require.Len(t, recv.got, 4)

	// Every attempt carries the same delivery id, which receivers deduplicate by.
	for _, req := range recv.got {
		assert.Equal(t, "judgment.submitted", req.Header.Get(webhook.HeaderEvent))
		assert.Equal(t, recv.got[0].Header.Get(webhook.HeaderID), req.Header.Get(webhook.HeaderID))
	}
	var env webhook.Envelope
	require.NoError(t, json.Unmarshal(recv.raw[3], &env))
	assert.Equal(t, webhook.JudgmentSubmitted, env.Event)
	assert.Equal(t, f.project, env.ProjectID)
	assert.JSONEq(t, `{"judgment_id":42,"comment":"准确"}`, string(env.Data))
}

func TestEndpointPausesAfter50FailuresAndResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recv := newReceiver(t, 503)
	hook, err := f.store.Create(ctx, f.project, f.user, webhook.NewWebhook{URL: recv.srv.URL, Events: []webhook.Event{webhook.ExportReady}})
	require.NoError(t, err)
	require.Equal(t, 1, f.emit(t, webhook.ExportReady, map[string]any{"snapshot_id": 1}))
	require.Equal(t, 1, f.emit(t, webhook.ExportReady, map[string]any{"snapshot_id": 2}))
	ds := f.deliveries(t, hook.ID)
	first, second := ds[1].ID, ds[0].ID

	for i := 1; i <= webhook.PauseAfter; i++ {
		out, err := f.deliverer.Attempt(ctx, first)
		require.NoError(t, err)
		if i < webhook.PauseAfter {
			require.Equal(t, "pending", out.Status, "attempt %d", i)
		} else {
			require.Equal(t, "paused", out.Status, "attempt %d", i)
		}
	}
	w, err := f.store.Get(ctx, f.project, hook.ID)
	require.NoError(t, err)
	assert.Equal(t, webhook.PauseAfter, w.Failures)
	require.NotNil(t, w.PausedAt, "paused after %d failures in a row", webhook.PauseAfter)

	// Paused: the other queued delivery is held, not sent, and new events are not queued.
	out, err := f.deliverer.Attempt(ctx, second)
	require.NoError(t, err)
	assert.Equal(t, "paused", out.Status)
	assert.Len(t, recv.got, webhook.PauseAfter)
	assert.Equal(t, 0, f.emit(t, webhook.ExportReady, map[string]any{"snapshot_id": 3}))

	// The receiver recovers; resuming queues the held deliveries again.
	recv.mu.Lock()
	recv.codes = []int{200}
	recv.mu.Unlock()
	w, requeued, err := f.store.Resume(ctx, f.project, hook.ID)
	require.NoError(t, err)
	assert.Nil(t, w.PausedAt)
	assert.Zero(t, w.Failures)
	assert.Equal(t, 2, requeued)
	var jobs int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery' AND state = 'available'`).Scan(&jobs))
	assert.Equal(t, 4, jobs, "two jobs from Emit, two from Resume")
	for _, id := range []int64{first, second} {
		out, err := f.deliverer.Attempt(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "delivered", out.Status)
	}
}

func TestDeliveryIsGivenUpAfterADay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recv := newReceiver(t, 500)
	hook, err := f.store.Create(ctx, f.project, f.user, webhook.NewWebhook{URL: recv.srv.URL, Events: []webhook.Event{webhook.ExportReady}})
	require.NoError(t, err)
	require.Equal(t, 1, f.emit(t, webhook.ExportReady, map[string]any{}))
	id := f.deliveries(t, hook.ID)[0].ID

	out, err := f.deliverer.Attempt(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "pending", out.Status)
	f.clock.Advance(24*time.Hour + time.Minute)
	out, err = f.deliverer.Attempt(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "failed", out.Status)
	assert.Equal(t, "failed", f.deliveries(t, hook.ID)[0].Status)
}

func TestDeliveryRefusesAPrivateAddressWhenDialling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recv := newReceiver(t, 200)
	// Registered while private addresses were allowed (or through a name that resolved to a
	// public address then, and to 127.0.0.1 now): the dial is checked again.
	hook, err := f.store.Create(ctx, f.project, f.user, webhook.NewWebhook{URL: recv.srv.URL, Events: []webhook.Event{webhook.ExportReady}})
	require.NoError(t, err)
	require.Equal(t, 1, f.emit(t, webhook.ExportReady, map[string]any{}))
	sealer, err := webhook.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	strict := webhook.NewDeliverer(f.pool, sealer, webhook.Guard{}, f.clock.Now, nil)
	out, err := strict.Attempt(ctx, f.deliveries(t, hook.ID)[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "pending", out.Status)
	assert.Contains(t, out.Err, "127.0.0.1 refused: a loopback address")
	assert.Empty(t, recv.got)
}

func TestEmitIsPartOfTheCallersTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recv := newReceiver(t, 200)
	hook, err := f.store.Create(ctx, f.project, f.user, webhook.NewWebhook{URL: recv.srv.URL, Events: []webhook.Event{webhook.JudgmentSubmitted}})
	require.NoError(t, err)
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	n, err := webhook.Emit(ctx, tx, f.project, webhook.JudgmentSubmitted, map[string]any{"judgment_id": 1})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, tx.Rollback(ctx))
	assert.Empty(t, f.deliveries(t, hook.ID), "a rolled-back judgment notifies no one")
	var jobs int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery'`).Scan(&jobs))
	assert.Zero(t, jobs)
}

func TestCreateRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	strict := webhook.NewStore(f.pool, nil, webhook.Guard{})
	keyed, err := webhook.NewSealer(make([]byte, webhook.KeySize))
	require.NoError(t, err)
	tests := []struct {
		name  string
		store *webhook.Store
		in    webhook.NewWebhook
		kind  errs.Kind
		field string
		msg   string
	}{
		{name: "no key on the server", store: strict, in: webhook.NewWebhook{URL: "https://93.184.216.34/", Events: []webhook.Event{webhook.ExportReady}},
			kind: errs.Unavailable, msg: "MENTOR_WEBHOOK_KEY"},
		{name: "a private address", store: webhook.NewStore(f.pool, keyed, webhook.Guard{}), in: webhook.NewWebhook{URL: "http://192.168.0.8/", Events: []webhook.Event{webhook.ExportReady}},
			kind: errs.Unprocessable, field: "url", msg: "a private address"},
		{name: "no events", store: f.store, in: webhook.NewWebhook{URL: "https://93.184.216.34/"}, kind: errs.Invalid, field: "events", msg: "name at least one event"},
		{name: "an unknown event", store: f.store, in: webhook.NewWebhook{URL: "https://93.184.216.34/", Events: []webhook.Event{"judgement.submitted"}},
			kind: errs.Invalid, field: "events", msg: `got "judgement.submitted"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.store.Create(ctx, f.project, f.user, tt.in)
			require.Error(t, err)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.kind, e.Kind)
			assert.Equal(t, tt.field, e.Field)
			assert.Contains(t, e.Message, tt.msg)
		})
	}
}
