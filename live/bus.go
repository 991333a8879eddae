package live

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Events between replicas go through PostgreSQL's LISTEN/NOTIFY on one channel. Payloads
// carry ids only (never content, never one event per token): a cancel, a user's sessions
// ending, a turn's candidate finishing. Every replica listens on a dedicated connection,
// taken out of the pool, and reconnects with backoff when it breaks; what it missed meanwhile
// is only latency, since followers also poll the database at the save cadence and session
// checks run on their own timer.

// notifyChannel is the one channel every replica listens on.
const notifyChannel = "mentor_live"

// Kinds of events between replicas.
const (
	kindCancel   = "cancel"   // stop a turn's candidate (0: every candidate) where it streams
	kindClose    = "close"    // close every connection of a user (disabled, new password)
	kindRecheck  = "recheck"  // re-check a user's connections' credentials now (signed out, token revoked)
	kindFinished = "finished" // candidates of turns finished (the turns noted while the last such event was in flight): followers elsewhere read them now
)

// busEvent is one notification's payload.
type busEvent struct {
	Kind      string  `json:"kind"`
	Turn      int64   `json:"turn,omitempty"`
	Turns     []int64 `json:"turns,omitempty"` // kindFinished: the turns announced together
	Candidate int64   `json:"candidate,omitempty"`
	User      int64   `json:"user,omitempty"`
}

// Backoff between reconnects of the listener: soon at first, then every few seconds.
const (
	listenRetryFirst = 100 * time.Millisecond
	listenRetryMax   = 5 * time.Second
	notifyTimeout    = 2 * time.Second
)

// notify tells every replica (this one too) about ev. It never blocks its caller for long:
// a database that does not answer within notifyTimeout loses the event, which costs latency
// only (see above).
func (e *Engine) notify(ctx context.Context, ev busEvent) {
	payload, err := json.Marshal(ev)
	if err != nil {
		e.logger.Error("encode a notification", "kind", ev.Kind, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if _, err := e.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, string(payload)); err != nil {
		e.logger.Warn("notify the other replicas", "kind", ev.Kind, "err", err)
	}
}

// listen receives every replica's events until ctx ends, reconnecting with backoff.
func (e *Engine) listen(ctx context.Context, pool *pgxpool.Pool) {
	wait := listenRetryFirst
	for ctx.Err() == nil {
		started := time.Now()
		err := e.listenOnce(ctx, pool)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > listenRetryMax {
			wait = listenRetryFirst // it worked for a while: this is a new outage
		}
		e.logger.Warn("listening for other replicas' events: will reconnect", "retry_in", wait, "err", err)
		jitter := time.Duration(rand.Int64N(int64(wait) / 2))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait + jitter):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// listenOnce holds one dedicated connection and dispatches its notifications until it fails.
func (e *Engine) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	acquireCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
	c, err := pool.Acquire(acquireCtx)
	cancel()
	if err != nil {
		return err
	}
	// Hijacked: the connection is this loop's alone, and never goes back to the pool with a
	// LISTEN on it.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // it is being thrown away
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ev busEvent
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
			e.logger.Warn("a notification this replica cannot read", "payload", n.Payload, "err", err)
			continue
		}
		e.dispatch(ctx, ev)
	}
}

// dispatch acts on another replica's event (or this one's own, which is harmless: each is
// idempotent).
func (e *Engine) dispatch(ctx context.Context, ev busEvent) {
	switch ev.Kind {
	case kindCancel:
		if lt := e.turn(ev.Turn); lt != nil && lt.userID == ev.User {
			lt.cancel(ev.Candidate, errUserCancel) //nolint:errcheck // a candidate unknown here is not this replica's to stop
		}
	case kindClose:
		e.closeLocal(ev.User)
	case kindRecheck:
		e.recheckLocal(ctx, ev.User)
	case kindFinished:
		e.wakeFollowers()
	default:
		e.logger.Warn("a notification of an unknown kind", "kind", ev.Kind)
	}
}
