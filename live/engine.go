package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/rlhf"
)

// Websocket timing, after gorilla's chat example: the reader expects a pong within
// pongWait; the writer pings a little more often than that.
const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	maxMessageSize = 64 << 10 // a judgment with a long gold answer still fits
	sendQueue      = 256      // events buffered per connection before it counts as too slow
	maxSocketsUser = 16       // open websockets per user: a trainer needs one or two
)

// Engine runs live training sessions: the turns whose candidates stream, their event logs,
// the connections that follow them (each with a cursor), the once-a-second save that renews
// the streams' leases, the sweep of streams whose lease ran out, and the per-user generation
// gate. It tracks open connections by user, so that signing out, disabling an account or
// resetting a password closes that user's connections at once, and a periodic check closes
// those whose session expired. It knows nothing of HTTP: a connection is a Transport (a
// *websocket.Conn, after the server's upgrade) and the Caller who opened it.
type Engine struct {
	logger    *slog.Logger
	auth      *auth.Store
	store     *rlhf.Store
	prompts   *prompts.Store
	models    *llm.Registry
	generator *generation.Generator
	renderer  *render.Renderer
	decode    func(raw []byte, v any) error
	checkNUL  func(raw []byte) error
	gate      *Gate
	cfg       Config

	mu    sync.Mutex
	conns map[*wsConn]struct{}
	turns map[int64]*liveTurn

	// streams is the parent of every candidate stream: live turns outlive the connection that
	// started them, and end only when cancelled or when the server stops.
	streams     context.Context
	stopStreams context.CancelCauseFunc
	streamsWG   sync.WaitGroup

	// Live candidates' snapshots, saved together once a second by Run (see rlhf.Store.Flush),
	// which renews their leases.
	flushMu sync.Mutex
	tracked map[int64]*trackedStream

	// Streams' final saves, batched, and the turns they finished, to announce (finish.go).
	finishes     finishQueue
	announceMu   sync.Mutex
	announced    []int64
	announceWake chan struct{}

	// Events between replicas (bus.go) and turns followed from the database (follow.go).
	pool       *pgxpool.Pool
	followMu   sync.Mutex
	remote     map[int64]map[*wsConn]*remoteFollower
	followWake chan struct{}
}

// Deps is what an engine works with. Every field is required.
type Deps struct {
	Logger    *slog.Logger
	Pool      *pgxpool.Pool // for LISTEN/NOTIFY between replicas
	Auth      *auth.Store
	Store     *rlhf.Store // conversations, turns and candidates
	Prompts   *prompts.Store
	Models    *llm.Registry
	Generator *generation.Generator
	Renderer  *render.Renderer
	// Decode parses one client command strictly (unknown fields refused), answering with an
	// errs error that names what was wrong; CheckNUL refuses a message holding a NUL
	// character anywhere, naming where. The server's request binding provides both, so the
	// websocket and the JSON API refuse bad input alike.
	Decode   func(raw []byte, v any) error
	CheckNUL func(raw []byte) error
}

func (d Deps) missing() []string {
	var out []string
	for name, unset := range map[string]bool{"Logger": d.Logger == nil, "Pool": d.Pool == nil, "Auth": d.Auth == nil, "Store": d.Store == nil,
		"Prompts": d.Prompts == nil, "Models": d.Models == nil, "Generator": d.Generator == nil, "Renderer": d.Renderer == nil,
		"Decode": d.Decode == nil, "CheckNUL": d.CheckNUL == nil} {
		if unset {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Config says who this replica is, how its live streams keep their claim on their rows, and
// what one user may run.
type Config struct {
	Replica  string             // this replica's id: the owner of the candidates it streams
	Lease    time.Duration      // how long a stream's claim holds without a renewal; at least 3 s
	Sweep    time.Duration      // how often candidates whose lease ran out (anyone's) are marked interrupted
	Check    time.Duration      // how often every connection's session is re-checked
	Now      func() time.Time   // time.Now when nil
	Limits   Limits             // zero: no limits
	Sessions auth.SessionLimits // how long a browser session lives, for the re-checks
}

// MinLease is the shortest lease an engine accepts: the once-a-second save must be able to miss
// a beat, and its timeout (a third of the lease) must leave room for a slow commit.
const MinLease = 3 * time.Second

// ErrLeaseLost is the cause given to streams whose lease ran out before this replica could
// renew it (the database was out of reach for longer than the lease), or that another
// replica's sweep gave up: their rows are no longer this replica's to write.
var ErrLeaseLost = errors.New("the stream's lease ran out: the database was out of reach for too long")

// trackedStream is one live candidate as the save loop sees it.
type trackedStream struct {
	text  func() (streamText, uint64) // the text so far, and a count of its changes
	saved uint64                      // the change count of the last save that went through
	// base is what the last save that went through wrote, and baseBytes the same lengths in
	// bytes: the next save sends only the text after them (see rlhf.Store.Flush).
	base      rlhf.Saved
	baseBytes [2]int // content, reasoning
	stop      context.CancelCauseFunc
	// until is when the lease as last granted runs out, on this replica's clock: the stream
	// stops then unless renewed. It is measured from before the statement that granted the
	// lease was sent, so it comes no later than the database's own lease_until, which the
	// database measured from a moment after that: only this replica's clock's rate matters,
	// never how far it is from the database's or another replica's (see rlhf.Lease).
	until time.Time
}

// streamText is a live candidate's whole text so far, up to and including its event numbered seq.
type streamText struct {
	content, reasoning string
	seq                int64
}

// lease is a claim on streams started now, and when it runs out by this replica's clock at the
// latest (see trackedStream.until).
func (e *Engine) lease() (rlhf.Lease, time.Time) {
	return rlhf.Lease{Owner: e.cfg.Replica, For: e.cfg.Lease}, e.cfg.Now().Add(e.cfg.Lease)
}

func (e *Engine) track(id int64, until time.Time, stop context.CancelCauseFunc, text func() (streamText, uint64)) {
	e.flushMu.Lock()
	e.tracked[id] = &trackedStream{text: text, stop: stop, until: until}
	e.flushMu.Unlock()
}

// savedBase is what the last save of a stream that went through wrote: its seq and lengths
// in characters (saved), and the same lengths in bytes of the stream's text.
type savedBase struct {
	saved rlhf.Saved
	bytes [2]int // content, reasoning
}

// untrack stops saving a stream once a second, and returns what its last save wrote: the
// final save sends only what came after.
func (e *Engine) untrack(id int64) savedBase {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	t := e.tracked[id]
	delete(e.tracked, id)
	if t == nil {
		return savedBase{}
	}
	return savedBase{saved: t.base, bytes: t.baseBytes}
}

// save saves every tracked candidate's new content and renews every tracked candidate's
// lease, in one statement. A candidate the database no longer lets this replica write (a
// sweep gave it up), and every candidate whose lease ran out without a renewal, is stopped
// with ErrLeaseLost: this replica never streams on into a row it may no longer own.
func (e *Engine) save(ctx context.Context) {
	now := e.cfg.Now()
	lease, until := e.lease()
	e.flushMu.Lock()
	batch := make([]rlhf.Snapshot, 0, len(e.tracked))
	type pending struct {
		version uint64
		base    rlhf.Saved
		bytes   [2]int
	}
	versions := make(map[int64]pending, len(e.tracked))
	for id, t := range e.tracked {
		text, version := t.text()
		snap := rlhf.Snapshot{ID: id, Seq: text.seq, Base: t.base, Dirty: version != t.saved}
		next := pending{version: version, base: t.base, bytes: t.baseBytes}
		if snap.Dirty {
			// The text only grows, so what was saved is a prefix of it.
			snap.Content, snap.Reasoning = text.content[t.baseBytes[0]:], text.reasoning[t.baseBytes[1]:]
			next.base = rlhf.Saved{Seq: text.seq,
				ContentChars:   t.base.ContentChars + utf8.RuneCountInString(snap.Content),
				ReasoningChars: t.base.ReasoningChars + utf8.RuneCountInString(snap.Reasoning)}
			next.bytes = [2]int{len(text.content), len(text.reasoning)}
		}
		batch = append(batch, snap)
		versions[id] = next
	}
	e.flushMu.Unlock()
	var kept []int64
	var err error
	if len(batch) > 0 {
		if kept, err = e.store.Flush(ctx, lease, batch); err != nil {
			e.logger.Error("save streaming candidates", "count", len(batch), "err", err)
		}
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err == nil {
		renewed := make(map[int64]bool, len(kept))
		for _, id := range kept {
			renewed[id] = true
		}
		for id, next := range versions {
			t, ok := e.tracked[id]
			if !ok {
				continue // it finished meanwhile
			}
			if renewed[id] {
				t.saved, t.base, t.baseBytes, t.until = next.version, next.base, next.bytes, until
			} else {
				// Not renewed: either it finished between the snapshot and the statement
				// (then it is untracked by now, above), or it is no longer ours.
				e.logger.Warn("stream given up: another replica swept it", "candidate", id)
				t.stop(ErrLeaseLost)
			}
		}
	}
	for id, t := range e.tracked {
		if !now.Before(t.until) {
			e.logger.Error("stream stopped: its lease ran out before it could be renewed", "candidate", id, "lease_until", t.until)
			t.stop(ErrLeaseLost)
		}
	}
}

// sweep marks interrupted every candidate whose owner let its lease run out.
func (e *Engine) sweep(ctx context.Context) {
	n, err := e.store.Sweep(ctx)
	if err != nil {
		e.logger.Error("sweep streams whose lease ran out", "err", err)
	} else if n > 0 {
		e.logger.Warn("candidates whose stream's lease ran out are marked interrupted", "count", n)
	}
}

// New returns an engine that re-checks every connection's session every cfg.Check, saves
// streaming candidates' content once a second (renewing their leases), and sweeps up
// candidates whose lease ran out every cfg.Sweep, once Run runs. It refuses a missing
// dependency or a bad setting by name.
func New(deps Deps, cfg Config) (*Engine, error) {
	switch missing := deps.missing(); {
	case len(missing) > 0:
		return nil, fmt.Errorf("live: missing dependencies: %s", strings.Join(missing, ", "))
	case cfg.Replica == "":
		return nil, errors.New("live: a replica id is required")
	case cfg.Lease < MinLease:
		return nil, fmt.Errorf("live: the stream lease must be at least %s, got %s", MinLease, cfg.Lease)
	case cfg.Sweep <= 0 || cfg.Check <= 0:
		return nil, fmt.Errorf("live: the sweep (%s) and check (%s) intervals must be positive", cfg.Sweep, cfg.Check)
	case cfg.Sessions.Idle <= 0:
		return nil, errors.New("live: the session limits are required, for the connections' re-checks")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	streams, stop := context.WithCancelCause(context.Background())
	return &Engine{logger: deps.Logger, auth: deps.Auth, store: deps.Store, prompts: deps.Prompts, models: deps.Models,
		generator: deps.Generator, renderer: deps.Renderer, decode: deps.Decode, checkNUL: deps.CheckNUL,
		gate: newGate(cfg.Limits, deps.Auth), cfg: cfg, conns: map[*wsConn]struct{}{}, turns: map[int64]*liveTurn{},
		streams: streams, stopStreams: stop, tracked: map[int64]*trackedStream{},
		pool: deps.Pool, remote: map[int64]map[*wsConn]*remoteFollower{},
		followWake: make(chan struct{}, 1), announceWake: make(chan struct{}, 1)}, nil
}

// Run runs the engine's loops until ctx ends, each on its own goroutine with its own
// deadlines: the once-a-second save (which renews leases), the lease sweep, the batched
// re-check of every connection's credentials, the listener for other replicas' events, the
// follower of turns streaming elsewhere, and the announcer of finished turns. Then it stops every stream (their candidates are
// saved as interrupted, with what they had), waits for them, and closes every connection.
// Call it once.
func (e *Engine) Run(ctx context.Context) {
	var loops sync.WaitGroup
	loops.Go(func() { e.listen(ctx, e.pool) })
	loops.Go(func() { e.followLoop(ctx) })
	loops.Go(func() { e.announceLoop(ctx) })
	loops.Go(func() { e.every(ctx, e.cfg.Sweep, e.sweep) })
	loops.Go(func() { e.every(ctx, e.cfg.Check, func(ctx context.Context) { e.recheck(ctx, e.snapshot()) }) })
	// Bounded: with the database unreachable, a save must not hold up a shutdown for a TCP
	// connect timeout, and must end while the leases it renews still hold.
	e.every(ctx, flushEvery, e.save)
	e.stopStreams(ErrShutdown)
	e.streamsWG.Wait()
	e.closeAll(websocket.CloseGoingAway, "server shutting down")
	loops.Wait()
}

// every runs do every period until ctx ends, each run with a third of a lease to finish.
func (e *Engine) every(ctx context.Context, period time.Duration, do func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Lease/3)
			do(runCtx)
			cancel()
		}
	}
}

// recheckBatch is how many connections' credentials one query checks.
const recheckBatch = 1000

// recheck closes the connections whose session or token no longer holds, checking them
// recheckBatch at a time. A database error closes nothing: an outage is not a sign-out.
func (e *Engine) recheck(ctx context.Context, conns []*wsConn) {
	for start := 0; start < len(conns); start += recheckBatch {
		batch := conns[start:min(start+recheckBatch, len(conns))]
		creds := make([]auth.Credential, len(batch))
		for i, c := range batch {
			creds[i] = c.cred
		}
		valid, err := e.auth.StillValid(ctx, creds, e.cfg.Sessions)
		if err != nil {
			e.logger.Warn("re-check websockets' credentials", "count", len(batch), "err", err)
			continue
		}
		for i, c := range batch {
			if !valid[i] {
				c.close(websocket.ClosePolicyViolation, "session ended")
			}
		}
	}
}

func (e *Engine) addTurn(t *liveTurn) {
	e.mu.Lock()
	e.turns[t.id] = t
	e.mu.Unlock()
}

// liveTurnFor returns the turn in memory, or puts an empty one there (a regenerate of a turn
// that finished long ago), counting one more stream on it before the hub's lock is let go:
// the turn cannot leave memory between this and the stream's start.
func (e *Engine) liveTurnFor(id, userID int64, hideSources bool) *liveTurn {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.turns[id]
	if t == nil {
		t = newLiveTurn(id, userID, hideSources)
		e.turns[id] = t
	}
	t.expect(1)
	return t
}

// streamEnded counts a turn's stream as finished; keepFinished after its last one, the turn
// leaves memory, unless a regenerate started another stream meanwhile.
func (e *Engine) streamEnded(t *liveTurn) {
	t.mu.Lock()
	t.running--
	idle := t.running == 0
	t.mu.Unlock()
	if idle {
		time.AfterFunc(keepFinished, func() { e.removeIdle(t) })
	}
}

// removeIdle takes t out of memory if it is still the turn kept under its id and nothing
// streams on it: a timer set when it last went idle must not remove it once a regenerate has
// made it busy, nor remove a newer turn kept under the same id.
func (e *Engine) removeIdle(t *liveTurn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t.mu.Lock()
	idle := t.running == 0
	t.mu.Unlock()
	if idle && e.turns[t.id] == t {
		delete(e.turns, t.id)
	}
}

func (e *Engine) turn(id int64) *liveTurn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.turns[id]
}

// unsubscribe stops sending turn events to a closed connection; the turns go on.
func (e *Engine) unsubscribe(c *wsConn) {
	e.mu.Lock()
	turns := make([]*liveTurn, 0, len(e.turns))
	for _, t := range e.turns {
		turns = append(turns, t)
	}
	e.mu.Unlock()
	for _, t := range turns {
		t.unsubscribe(c)
	}
	e.unfollowAllRemote(c)
}

func (e *Engine) snapshot() []*wsConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*wsConn, 0, len(e.conns))
	for c := range e.conns {
		out = append(out, c)
	}
	return out
}

// CloseUser closes every connection of a user, on every replica: signed out everywhere,
// disabled, or given a new password.
func (e *Engine) CloseUser(ctx context.Context, userID int64) {
	e.closeLocal(userID)
	e.notify(ctx, busEvent{Kind: kindClose, User: userID})
}

func (e *Engine) closeLocal(userID int64) {
	for _, c := range e.snapshot() {
		if c.userID == userID {
			c.close(websocket.ClosePolicyViolation, "session ended")
		}
	}
}

// RecheckUser checks the credentials of a user's sockets now, on every replica, rather than
// at the next tick: after signing out, changing a password or revoking a token.
func (e *Engine) RecheckUser(ctx context.Context, userID int64) {
	e.recheckLocal(ctx, userID)
	e.notify(ctx, busEvent{Kind: kindRecheck, User: userID})
}

func (e *Engine) recheckLocal(ctx context.Context, userID int64) {
	var mine []*wsConn
	for _, c := range e.snapshot() {
		if c.userID == userID {
			mine = append(mine, c)
		}
	}
	e.recheck(ctx, mine)
}

func (e *Engine) socketsOf(userID int64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for c := range e.conns {
		if c.userID == userID {
			n++
		}
	}
	return n
}

func (e *Engine) closeAll(code int, reason string) {
	for _, c := range e.snapshot() {
		c.close(code, reason)
	}
}

// wsConn is one websocket. Only writePump writes to conn.
type wsConn struct {
	engine *Engine
	conn   Transport
	userID int64
	lang   string          // the language errors are told in (?lang= or Accept-Language at the upgrade)
	cred   auth.Credential // the session or token it was opened with, re-checked in batches
	send   chan any
	once   sync.Once
	reason chan closeReason // for the writer to send

	// Turns this connection follows; the cursors are kept by the turns. The writer reads
	// from the logs when woken; nothing is copied into send.
	followMu sync.Mutex
	follows  map[*liveTurn]struct{}
	woken    chan struct{} // capacity 1: "some followed turn has new events"
}

// follow starts sending a turn's events from the beginning of its logs, skipping those the
// client already has (after), and keeps sending as they come.
func (c *wsConn) follow(t *liveTurn, after map[int64]int64) {
	c.followMu.Lock()
	c.follows[t] = struct{}{}
	c.followMu.Unlock()
	t.subscribe(c, after)
	c.wake()
}

// followFromNow has the connection follow a turn's new events only: those already in the
// log are the client's (it has the turn on screen). A connection already following the turn
// keeps its place.
func (c *wsConn) followFromNow(t *liveTurn) {
	c.followMu.Lock()
	_, following := c.follows[t]
	c.followMu.Unlock()
	if !following {
		c.follow(t, t.lastSeqs())
	}
}

func (c *wsConn) wake() {
	select {
	case c.woken <- struct{}{}:
	default: // already woken
	}
}

// pending appends to spans, for the writer, the followed turns' events not yet sent, as spans
// of the turns' logs (nothing is copied). A turn whose streams have all ended and whose every
// final event this connection has sent is no longer followed: a long-lived socket holds only
// the turns still in play.
func (c *wsConn) pendingSpans(spans []logSpan) []logSpan {
	c.followMu.Lock()
	defer c.followMu.Unlock()
	for t := range c.follows {
		var delivered bool
		spans, delivered = t.take(c, spans)
		if delivered {
			delete(c.follows, t)
		}
	}
	return spans
}

// closeReason is a close frame's code and text.
type closeReason struct {
	code int
	text string
}

// close asks the writer to send a close frame and end the connection. Safe to call twice.
func (c *wsConn) close(code int, text string) {
	c.once.Do(func() { c.reason <- closeReason{code: code, text: text} })
}

// wsMessage is what the client sends: a type and, depending on it, more fields.
type wsMessage struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"` // echoed in the answer, so the client can match them
}

// wsEvent is what the server sends.
type wsEvent struct {
	Type    string    `json:"type"`
	ID      string    `json:"id,omitempty"`
	Code    errs.Kind `json:"code,omitempty"`
	Field   string    `json:"field,omitempty"`
	Message string    `json:"message,omitempty"`
	Key     string    `json:"key,omitempty"`    // the message's English format: stable, for clients that translate themselves
	Params  []string  `json:"params,omitempty"` // the format's arguments
	At      time.Time `json:"at,omitempty"`
}

// Transport is one client connection's wire: a *websocket.Conn after the server's upgrade.
// Only the connection's writer goroutine writes to it.
type Transport interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteJSON(v any) error
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPongHandler(h func(appData string) error)
	Close() error
}

// Caller is who opened a connection, as the server's authentication found them.
type Caller struct {
	User   auth.User
	Scopes []auth.Scope // a token's scopes; nil for a browser session, which scopes do not limit
	Lang   string       // the language errors are told in
	// Credential is the session or token the connection was opened with: the engine
	// re-checks it periodically, and at once when the user signs out anywhere.
	Credential auth.Credential
}

// MaxSocketsPerUser is how many connections one user may have open on a replica: a trainer
// needs one or two.
const MaxSocketsPerUser = maxSocketsUser

// Full reports whether user has as many connections open as allowed.
func (e *Engine) Full(userID int64) bool { return e.socketsOf(userID) >= maxSocketsUser }

// Serve runs one connection until it closes: its writer on a goroutine of its own, its
// reader (which runs the caller's commands) on this one. ctx is the connection's: when it
// ends, so does the connection, but not the turns it started.
func (e *Engine) Serve(ctx context.Context, conn Transport, caller Caller) {
	wc := &wsConn{engine: e, conn: conn, userID: caller.User.ID, lang: caller.Lang, send: make(chan any, sendQueue),
		reason: make(chan closeReason, 1), cred: caller.Credential,
		follows: map[*liveTurn]struct{}{}, woken: make(chan struct{}, 1)}
	e.mu.Lock()
	e.conns[wc] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, wc)
		e.mu.Unlock()
		e.unsubscribe(wc)
	}()
	go wc.writePump()
	// The client may have seen the handshake, and its account been disabled, before the
	// connection was registered above; checking once more closes that gap. Off the reader's
	// path: the first command need not wait for a query the handshake just made, and a
	// connection found stale is closed as soon as the answer comes.
	go func() {
		checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Lease/3)
		defer cancel()
		e.recheck(checkCtx, []*wsConn{wc})
	}()
	wc.readPump(ctx, e.logger, e.checkNUL, commands{e: e, caller: caller, conn: wc}.handle)
}

// commandFunc handles one client message of a type other than heartbeat.
type commandFunc func(ctx context.Context, typ string, raw []byte) error

// safely runs one websocket command, turning a panic into an internal error: one bad command
// is logged with its stack and answered with an error event, and the connection (with the
// trainer's streams) goes on.
func safely(logger *slog.Logger, typ string, run func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("websocket command panicked", "type", typ, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("websocket command %s panicked: %v", typ, r)
		}
	}()
	return run()
}

func (c *wsConn) readPump(ctx context.Context, logger *slog.Logger, checkNUL func([]byte) error, handle commandFunc) {
	defer c.close(websocket.CloseNormalClosure, "")
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait)) //nolint:errcheck // a failed deadline shows as a read error
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
				logger.Debug("websocket read", "err", err)
			}
			if err == websocket.ErrReadLimit {
				c.close(websocket.CloseMessageTooBig, "message over 64 KiB")
			}
			return
		}
		var msg wsMessage
		if err := checkNUL(data); err != nil { // PostgreSQL text cannot hold NUL: refused here, for every command
			json.Unmarshal(data, &msg) //nolint:errcheck // only for the id, when there is one
			c.emit(errorEvent(logger, c.lang, msg.ID, err))
			continue
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			c.emit(errorEvent(logger, c.lang, "", errs.E(errs.Invalid, "malformed JSON: %v", err)))
			continue
		}
		if msg.Type == "heartbeat" {
			c.emit(wsEvent{Type: "heartbeat", ID: msg.ID, At: time.Now().UTC()})
			continue
		}
		if err := safely(logger, msg.Type, func() error { return handle(ctx, msg.Type, data) }); err != nil {
			c.emit(errorEvent(logger, c.lang, msg.ID, err))
		}
	}
}

// errorEvent is a command's error as the client sees it, in the connection's language: its
// code, field, message, key and parameters, or only "internal error" for what is not the
// client's to fix (logged here in full).
func errorEvent(logger *slog.Logger, lang, id string, err error) wsEvent {
	d := errs.Describe(err, lang)
	if d.Kind == errs.Internal {
		logger.Error("websocket command", "id", id, "err", err)
	}
	return wsEvent{Type: "error", ID: id, Code: d.Kind, Field: d.Field, Message: d.Message, Key: d.Key, Params: d.Params}
}

// emit queues an event, or closes a client too slow to keep up rather than block others.
func (c *wsConn) emit(e any) {
	select {
	case c.send <- e:
	default:
		c.close(websocket.CloseTryAgainLater, "too slow to keep up")
	}
}

func (c *wsConn) writePump() {
	var spans []logSpan
	var buf []byte
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case e := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // shows as a write error
			if err := c.conn.WriteJSON(e); err != nil {
				return
			}
		case <-c.woken:
			// A client that cannot take events as fast as they come falls behind in the log;
			// one whose writes stall past writeWait is dropped and can resume. The spans and
			// the encoding buffer are reused from wake to wake.
			spans = c.pendingSpans(spans[:0])
			for _, sp := range spans {
				for i, en := range sp.entries {
					c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // shows as a write error
					var err error
					if en.full != nil {
						err = c.conn.WriteJSON(en.full)
					} else {
						buf = appendPiece(buf[:0], en, sp.turnID, sp.candidateID, sp.first+int64(i))
						err = c.conn.WriteMessage(websocket.TextMessage, buf)
					}
					if err != nil {
						return
					}
				}
			}
			clear(spans) // let go of the logs' slices until the next wake
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // shows as a write error
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case r := <-c.reason:
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r.code, r.text), //nolint:errcheck // closing anyway
				time.Now().Add(writeWait))
			return
		}
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
