package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
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

// Hub tracks open websockets by user, so that signing out, disabling an account or resetting
// a password closes that user's connections at once, and a periodic check closes those whose
// session expired. Live training sessions run on these connections.
type Hub struct {
	logger *slog.Logger
	auth   *auth.Store
	limits auth.SessionLimits
	cfg    HubConfig

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
	liveStore *rlhf.Store
	flushMu   sync.Mutex
	tracked   map[int64]*trackedStream
}

// HubConfig says who this replica is and how its live streams keep their claim on their rows.
type HubConfig struct {
	Replica string        // this replica's id: the owner of the candidates it streams
	Lease   time.Duration // how long a stream's claim holds without a renewal; at least 3 s
	Sweep   time.Duration // how often candidates whose lease ran out (anyone's) are marked interrupted
	Check   time.Duration // how often every connection's session is re-checked
	Now     func() time.Time
}

// MinLease is the shortest lease a hub accepts: the once-a-second save must be able to miss
// a beat, and its timeout (a third of the lease) must leave room for a slow commit.
const MinLease = 3 * time.Second

// ErrLeaseLost is the cause given to streams whose lease ran out before this replica could
// renew it (the database was out of reach for longer than the lease), or that another
// replica's sweep gave up: their rows are no longer this replica's to write.
var ErrLeaseLost = errors.New("the stream's lease ran out: the database was out of reach for too long")

// trackedStream is one live candidate as the save loop sees it.
type trackedStream struct {
	snapshot func() (rlhf.Snapshot, uint64) // the text so far, and a count of its changes
	saved    uint64                         // the change count of the last save that went through
	stop     context.CancelCauseFunc
	until    time.Time // the lease as last granted: the stream stops at this time unless renewed
}

// lease is a claim on streams started now.
func (h *Hub) lease() rlhf.Lease {
	return rlhf.Lease{Owner: h.cfg.Replica, Until: h.cfg.Now().Add(h.cfg.Lease)}
}

func (h *Hub) track(id int64, until time.Time, stop context.CancelCauseFunc, snapshot func() (rlhf.Snapshot, uint64)) {
	h.flushMu.Lock()
	h.tracked[id] = &trackedStream{snapshot: snapshot, stop: stop, until: until}
	h.flushMu.Unlock()
}

func (h *Hub) untrack(id int64) {
	h.flushMu.Lock()
	delete(h.tracked, id)
	h.flushMu.Unlock()
}

// save saves every tracked candidate's new content and renews every tracked candidate's
// lease, in one statement. A candidate the database no longer lets this replica write (a
// sweep gave it up), and every candidate whose lease ran out without a renewal, is stopped
// with ErrLeaseLost: this replica never streams on into a row it may no longer own.
func (h *Hub) save(ctx context.Context) {
	now := h.cfg.Now()
	lease := rlhf.Lease{Owner: h.cfg.Replica, Until: now.Add(h.cfg.Lease)}
	h.flushMu.Lock()
	batch := make([]rlhf.Snapshot, 0, len(h.tracked))
	versions := make(map[int64]uint64, len(h.tracked))
	for id, t := range h.tracked {
		snap, version := t.snapshot()
		snap.ID, snap.Dirty = id, version != t.saved
		batch = append(batch, snap)
		versions[id] = version
	}
	h.flushMu.Unlock()
	var kept []int64
	var err error
	if len(batch) > 0 {
		if kept, err = h.liveStore.Flush(ctx, lease, now, batch); err != nil {
			h.logger.Error("save streaming candidates", "count", len(batch), "err", err)
		}
	}
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	if err == nil {
		renewed := make(map[int64]bool, len(kept))
		for _, id := range kept {
			renewed[id] = true
		}
		for id, version := range versions {
			t, ok := h.tracked[id]
			if !ok {
				continue // it finished meanwhile
			}
			if renewed[id] {
				t.saved, t.until = version, lease.Until
			} else {
				// Not renewed: either it finished between the snapshot and the statement
				// (then it is untracked by now, above), or it is no longer ours.
				h.logger.Warn("stream given up: another replica swept it", "candidate", id)
				t.stop(ErrLeaseLost)
			}
		}
	}
	for id, t := range h.tracked {
		if !now.Before(t.until) {
			h.logger.Error("stream stopped: its lease ran out before it could be renewed", "candidate", id, "lease_until", t.until)
			t.stop(ErrLeaseLost)
		}
	}
}

// sweep marks interrupted every candidate whose owner let its lease run out.
func (h *Hub) sweep(ctx context.Context) {
	n, err := h.liveStore.Sweep(ctx, h.cfg.Now())
	if err != nil {
		h.logger.Error("sweep streams whose lease ran out", "err", err)
	} else if n > 0 {
		h.logger.Warn("candidates whose stream's lease ran out are marked interrupted", "count", n)
	}
}

// NewHub returns a hub that re-checks every connection's session every cfg.Check, saves
// streaming candidates' content once a second (renewing their leases), and sweeps up
// candidates whose lease ran out every cfg.Sweep.
func NewHub(logger *slog.Logger, store *auth.Store, live *rlhf.Store, limits auth.SessionLimits, cfg HubConfig) (*Hub, error) {
	switch {
	case cfg.Replica == "":
		return nil, errors.New("hub: a replica id is required")
	case cfg.Lease < MinLease:
		return nil, fmt.Errorf("hub: the stream lease must be at least %s, got %s", MinLease, cfg.Lease)
	case cfg.Sweep <= 0 || cfg.Check <= 0:
		return nil, fmt.Errorf("hub: the sweep (%s) and check (%s) intervals must be positive", cfg.Sweep, cfg.Check)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	streams, stop := context.WithCancelCause(context.Background())
	return &Hub{logger: logger, auth: store, liveStore: live, limits: limits, cfg: cfg, conns: map[*wsConn]struct{}{},
		turns: map[int64]*liveTurn{}, streams: streams, stopStreams: stop, tracked: map[int64]*trackedStream{}}, nil
}

// Run re-checks sessions until ctx ends. Then it stops every stream (their candidates are
// saved as interrupted, with what they had), waits for them, and closes every connection.
// Call it once.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Check)
	defer t.Stop()
	save := time.NewTicker(flushEvery)
	defer save.Stop()
	sweep := time.NewTicker(h.cfg.Sweep)
	defer sweep.Stop()
	for {
		select {
		case <-save.C:
			// Bounded: with the database unreachable, a save must not hold up the session
			// checks, or a shutdown, for a TCP connect timeout, and must end while the
			// leases it renews still hold.
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Lease/3)
			h.save(saveCtx)
			cancel()
		case <-sweep.C:
			sweepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Lease/3)
			h.sweep(sweepCtx)
			cancel()
		case <-ctx.Done():
			h.stopStreams(ErrShutdown)
			h.streamsWG.Wait()
			h.closeAll(websocket.CloseGoingAway, "server shutting down")
			return
		case <-t.C:
			for _, c := range h.snapshot() {
				if !c.alive(ctx) {
					c.close(websocket.ClosePolicyViolation, "session ended")
				}
			}
		}
	}
}

func (h *Hub) addTurn(t *liveTurn) {
	h.mu.Lock()
	h.turns[t.id] = t
	h.mu.Unlock()
}

// liveTurnFor returns the turn in memory, or puts an empty one there (a regenerate of a turn
// that finished long ago), counting one more stream on it before the hub's lock is let go:
// the turn cannot leave memory between this and the stream's start.
func (h *Hub) liveTurnFor(id, userID int64, hideSources bool) *liveTurn {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.turns[id]
	if t == nil {
		t = &liveTurn{id: id, userID: userID, seq: map[int64]int64{}, subs: map[*wsConn]struct{}{},
			cancels: map[int64]context.CancelCauseFunc{}, hideSources: hideSources}
		h.turns[id] = t
	}
	t.expect(1)
	return t
}

// streamEnded counts a turn's stream as finished; keepFinished after its last one, the turn
// leaves memory, unless a regenerate started another stream meanwhile.
func (h *Hub) streamEnded(t *liveTurn) {
	t.mu.Lock()
	t.running--
	idle := t.running == 0
	t.mu.Unlock()
	if idle {
		time.AfterFunc(keepFinished, func() { h.removeIdle(t) })
	}
}

// removeIdle takes t out of memory if it is still the turn kept under its id and nothing
// streams on it: a timer set when it last went idle must not remove it once a regenerate has
// made it busy, nor remove a newer turn kept under the same id.
func (h *Hub) removeIdle(t *liveTurn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.mu.Lock()
	idle := t.running == 0
	t.mu.Unlock()
	if idle && h.turns[t.id] == t {
		delete(h.turns, t.id)
	}
}

func (h *Hub) turn(id int64) *liveTurn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.turns[id]
}

// unsubscribe stops sending turn events to a closed connection; the turns go on.
func (h *Hub) unsubscribe(c *wsConn) {
	h.mu.Lock()
	turns := make([]*liveTurn, 0, len(h.turns))
	for _, t := range h.turns {
		turns = append(turns, t)
	}
	h.mu.Unlock()
	for _, t := range turns {
		t.mu.Lock()
		delete(t.subs, c)
		t.mu.Unlock()
	}
}

func (h *Hub) snapshot() []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

func (h *Hub) closeUser(userID int64) {
	if h == nil {
		return
	}
	for _, c := range h.snapshot() {
		if c.userID == userID {
			c.close(websocket.ClosePolicyViolation, "session ended")
		}
	}
}

// recheckUser checks the credentials of a user's sockets now, rather than at the next tick:
// after signing out, changing a password or revoking a token.
func (h *Hub) recheckUser(ctx context.Context, userID int64) {
	if h == nil {
		return
	}
	for _, c := range h.snapshot() {
		if c.userID == userID && !c.alive(ctx) {
			c.close(websocket.ClosePolicyViolation, "session ended")
		}
	}
}

func (h *Hub) socketsOf(userID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for c := range h.conns {
		if c.userID == userID {
			n++
		}
	}
	return n
}

func (h *Hub) closeAll(code int, reason string) {
	for _, c := range h.snapshot() {
		c.close(code, reason)
	}
}

// wsConn is one websocket. Only writePump writes to conn.
type wsConn struct {
	hub    *Hub
	conn   *websocket.Conn
	userID int64
	lang   string                     // the language errors are told in (?lang= or Accept-Language at the upgrade)
	alive  func(context.Context) bool // whether the session or token behind it still holds
	send   chan any
	once   sync.Once
	reason chan [2]any // close code and text, for the writer to send

	// Turns this connection follows, each with a cursor into the turn's event log. The
	// writer reads from the logs when woken; nothing is copied into send.
	followMu sync.Mutex
	follows  map[*liveTurn]*cursor
	woken    chan struct{} // capacity 1: "some followed turn has new events"
}

type cursor struct {
	next  int             // index of the next event to send
	after map[int64]int64 // for a resume: per candidate, the last sequence number the client has
}

// follow starts sending a turn's events from the beginning of its log, skipping those the
// client already has (after), and keeps sending as they come.
func (c *wsConn) follow(t *liveTurn, after map[int64]int64) {
	c.followMu.Lock()
	c.follows[t] = &cursor{after: after}
	c.followMu.Unlock()
	t.mu.Lock()
	t.subs[c] = struct{}{}
	t.mu.Unlock()
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

// pending collects, for the writer, the followed turns' events not yet sent.
func (c *wsConn) pending() []candidateEvent {
	c.followMu.Lock()
	defer c.followMu.Unlock()
	var out []candidateEvent
	for t, cur := range c.follows {
		evs := t.eventsFrom(cur.next)
		cur.next += len(evs)
		for _, ev := range evs {
			if ev.Seq > cur.after[ev.CandidateID] {
				out = append(out, ev)
			}
		}
	}
	return out
}

// close asks the writer to send a close frame and end the connection. Safe to call twice.
func (c *wsConn) close(code int, text string) {
	c.once.Do(func() { c.reason <- [2]any{code, text} })
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

// upgrader accepts only browsers on an allowed origin: a page on another site cannot open a
// socket with the trainer's cookie (cross-site websocket hijacking).
func upgrader(allowed []string) *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 4096,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return true // not a browser (a script with a token); browsers always send Origin
			}
			u, err := url.Parse(origin)
			if err != nil {
				return false
			}
			if strings.EqualFold(u.Host, r.Host) {
				return true
			}
			return slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, origin) })
		},
	}
}

// handleWebsocket upgrades to the session websocket: one reader (this goroutine) and one
// writer per connection.
func handleWebsocket(d Deps) apiFunc {
	up := upgrader(d.AllowedOrigins)
	return func(c *gin.Context) error {
		p := principalOf(c)
		if !websocket.IsWebSocketUpgrade(c.Request) {
			return errs.E(errs.Invalid, "this route speaks websocket only")
		}
		if d.Hub.socketsOf(p.user.ID) >= maxSocketsUser {
			return errs.E(errs.RateLimited, "you have %d connections open already: close a tab", maxSocketsUser)
		}
		conn, err := up.Upgrade(c.Writer, c.Request, nil)
		if err != nil {
			return nil // the upgrader has already answered (403 for a foreign origin)
		}
		wc := &wsConn{hub: d.Hub, conn: conn, userID: p.user.ID, lang: requestLang(c.Request), send: make(chan any, sendQueue),
			reason: make(chan [2]any, 1), alive: credentialCheck(c, d),
			follows: map[*liveTurn]*cursor{}, woken: make(chan struct{}, 1)}
		d.Hub.mu.Lock()
		d.Hub.conns[wc] = struct{}{}
		d.Hub.mu.Unlock()
		defer func() {
			d.Hub.mu.Lock()
			delete(d.Hub.conns, wc)
			d.Hub.mu.Unlock()
			d.Hub.unsubscribe(wc)
		}()
		go wc.writePump()
		// The client may have seen the handshake, and its account been disabled, before the
		// connection was registered above; checking once more closes that gap.
		if !wc.alive(c.Request.Context()) {
			wc.close(websocket.ClosePolicyViolation, "session ended")
		}
		wc.readPump(c.Request.Context(), d.Logger, commands{d: d, p: p, conn: wc}.handle)
		return nil
	}
}

// credentialCheck returns a check that the request's session or token still holds.
func credentialCheck(c *gin.Context, d Deps) func(context.Context) bool {
	if h := c.GetHeader("Authorization"); h != "" {
		secret := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		return func(ctx context.Context) bool {
			_, _, err := d.Auth.TokenUser(ctx, secret)
			// Only a refused token ends the socket; a database error does not.
			return errs.KindOf(err) != errs.Unauthenticated
		}
	}
	cookie, _ := c.Cookie(sessionCookie)
	return func(ctx context.Context) bool { return d.Auth.Alive(ctx, cookie, d.Sessions) }
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

func (c *wsConn) readPump(ctx context.Context, logger *slog.Logger, handle commandFunc) {
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
		if err := rejectNUL(data); err != nil { // PostgreSQL text cannot hold NUL: refused here, for every command
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
			// one whose writes stall past writeWait is dropped and can resume.
			for _, e := range c.pending() {
				c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // shows as a write error
				if err := c.conn.WriteJSON(e); err != nil {
					return
				}
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait)) //nolint:errcheck // shows as a write error
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case r := <-c.reason:
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r[0].(int), r[1].(string)), //nolint:errcheck // closing anyway
				time.Now().Add(writeWait))
			return
		}
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
