package live

import (
	"context"
	"time"

	"github.com/mentor-ai/mentor/rlhf"
)

// Following a turn that streams on another replica. The owner saves each candidate's text
// with the number of the last event it includes (rlhf.Candidate.Seq) once a second; a
// follower here reads the turn at that cadence (and at once when the owner announces a
// finished candidate) and sends, per candidate, a snapshot event: the whole text so far,
// numbered with the owner's sequence number. A snapshot is sent only when its number is
// higher than the last the client has, so the client never sees a number twice and never
// misses text (each snapshot is whole); the final state of each candidate is sent exactly
// once, after which the connection stops following it.

// remoteFollower is one connection following one remote turn.
type remoteFollower struct {
	conn        *wsConn
	sent        map[int64]int64 // candidate id -> the highest sequence number the client has
	finished    map[int64]bool  // candidates whose final state has been delivered
	hideSources bool
}

// followRemote has conn follow turn t (read just now), which streams on another replica,
// from the client's after on.
func (e *Engine) followRemote(conn *wsConn, t rlhf.Turn, after map[int64]int64, hideSources bool) {
	f := &remoteFollower{conn: conn, sent: map[int64]int64{}, finished: map[int64]bool{}, hideSources: hideSources}
	for id, seq := range after {
		f.sent[id] = seq
	}
	e.followMu.Lock()
	defer e.followMu.Unlock()
	if e.remote[t.ID] == nil {
		e.remote[t.ID] = map[*wsConn]*remoteFollower{}
	}
	e.remote[t.ID][conn] = f
	if e.deliver(f, t) {
		e.unfollowRemoteLocked(t.ID, conn)
	}
}

// unfollowRemoteLocked stops conn following turn id; e.followMu is held.
func (e *Engine) unfollowRemoteLocked(id int64, conn *wsConn) {
	delete(e.remote[id], conn)
	if len(e.remote[id]) == 0 {
		delete(e.remote, id)
	}
}

// deliver sends f what t has beyond what f's client has, and reports whether every
// candidate's final state has now been delivered.
func (e *Engine) deliver(f *remoteFollower, t rlhf.Turn) bool {
	all := true
	for _, c := range t.Candidates {
		if f.finished[c.ID] {
			continue
		}
		final := c.Status.Finished()
		if c.Seq > f.sent[c.ID] {
			ev := candidateEvent{Type: "snapshot", TurnID: t.ID, CandidateID: c.ID, Seq: c.Seq, Content: c.Content, Status: c.Status}
			if final {
				ev.FinishReason, ev.Error, ev.HTML = c.FinishReason, c.Error, e.renderer.Markdown(c.Content)
				if f.hideSources {
					ev.Error = RedactSources(ev.Error, c)
				}
			}
			f.conn.emit(ev)
			f.sent[c.ID] = c.Seq
		}
		if final {
			f.finished[c.ID] = true // delivered now, or the client had it already
		} else {
			all = false
		}
	}
	return all
}

// wakeFollowers has the follow loop read the remote turns now rather than at its next tick.
func (e *Engine) wakeFollowers() {
	select {
	case e.followWake <- struct{}{}:
	default:
	}
}

// followLoop reads the followed remote turns at the save cadence, or when woken, until ctx
// ends.
func (e *Engine) followLoop(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.followWake:
		}
		readCtx, cancel := context.WithTimeout(ctx, e.cfg.Lease/3)
		e.pollRemote(readCtx)
		cancel()
	}
}

// pollRemote reads every followed remote turn once and delivers what is new.
func (e *Engine) pollRemote(ctx context.Context) {
	e.followMu.Lock()
	ids := make([]int64, 0, len(e.remote))
	for id := range e.remote {
		ids = append(ids, id)
	}
	e.followMu.Unlock()
	for _, id := range ids {
		t, err := e.store.Turn(ctx, id)
		if err != nil {
			e.logger.Warn("follow a turn streaming elsewhere", "turn", id, "err", err)
			continue
		}
		e.followMu.Lock()
		for conn, f := range e.remote[id] {
			if e.deliver(f, t) {
				e.unfollowRemoteLocked(id, conn)
			}
		}
		e.followMu.Unlock()
	}
}

// unfollowAllRemote stops a closed connection following any remote turn.
func (e *Engine) unfollowAllRemote(conn *wsConn) {
	e.followMu.Lock()
	defer e.followMu.Unlock()
	for id := range e.remote {
		e.unfollowRemoteLocked(id, conn)
	}
}
