package live

import (
	"context"
	"slices"
	"time"

	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// Following a turn that streams on another replica. The owner saves each candidate's text
// with the number of the last event it includes (rlhf.Candidate.Seq) once a second; a
// follower here reads the turn at that cadence (and at once when the owner announces a
// finished candidate) and sends, per candidate, a snapshot event: the whole text so far,
// numbered with the owner's sequence number (the first of each candidate also carries its
// passages). All followed turns are read in one query per tick. A snapshot is sent only when its number is
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
func (e *Engine) followRemote(ctx context.Context, conn *wsConn, t rlhf.Turn, after map[int64]int64, hideSources bool) {
	f := &remoteFollower{conn: conn, sent: map[int64]int64{}, finished: map[int64]bool{}, hideSources: hideSources}
	for id, seq := range after {
		f.sent[id] = seq
	}
	passages := e.passagesFor(ctx, t.Candidates, []*remoteFollower{f})
	e.followMu.Lock()
	defer e.followMu.Unlock()
	if e.remote[t.ID] == nil {
		e.remote[t.ID] = map[*wsConn]*remoteFollower{}
	}
	e.remote[t.ID][conn] = f
	if e.deliver(f, t.ID, t.Candidates, passages) {
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

// firstSnapshot reports whether the next snapshot f sends of c is its first: the client has
// nothing of c yet, so the snapshot carries c's passages (the owner sent them as an event of
// their own, before any text).
func (f *remoteFollower) firstSnapshot(c rlhf.Candidate) bool {
	return !f.finished[c.ID] && f.sent[c.ID] == 0 && c.Seq > 0
}

// passagesFor reads, in one query, the passages of the candidates whose first snapshot one of
// fs is about to send, by candidate id. A failed read is logged and the snapshots go without:
// the turn's passages are also in GET /turns/{id}.
func (e *Engine) passagesFor(ctx context.Context, cands []rlhf.Candidate, fs []*remoteFollower) map[int64][]retrieval.Passage {
	var ids []int64
	var need []rlhf.Candidate
	for _, c := range cands {
		if len(c.PassageIDs) == 0 || !slices.ContainsFunc(fs, func(f *remoteFollower) bool { return f.firstSnapshot(c) }) {
			continue
		}
		need = append(need, c)
		ids = append(ids, c.PassageIDs...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	chunks, err := e.generator.Passages(ctx, ids)
	if err != nil {
		e.logger.Warn("read the passages of candidates streaming elsewhere", "count", len(need), "err", err)
		return nil
	}
	byID := make(map[int64]retrieval.Passage, len(chunks))
	for _, p := range chunks {
		byID[p.ChunkID] = p
	}
	out := make(map[int64][]retrieval.Passage, len(need))
	for _, c := range need {
		ps := make([]retrieval.Passage, 0, len(c.PassageIDs))
		for _, id := range c.PassageIDs {
			if p, ok := byID[id]; ok {
				ps = append(ps, p)
			}
		}
		out[c.ID] = ps
	}
	return out
}

// deliver sends f what the turn's candidates (cands, read just now) have beyond what f's
// client has, and reports whether every candidate's final state has now been delivered. The
// first snapshot of a candidate carries its passages, when it has any.
func (e *Engine) deliver(f *remoteFollower, turnID int64, cands []rlhf.Candidate, passages map[int64][]retrieval.Passage) bool {
	all := true
	for _, c := range cands {
		if f.finished[c.ID] {
			continue
		}
		final := c.Status.Finished()
		if c.Seq > f.sent[c.ID] {
			ev := candidateEvent{Type: "snapshot", TurnID: turnID, CandidateID: c.ID, Seq: c.Seq, Content: c.Content, Status: c.Status}
			if ps, ok := passages[c.ID]; ok && f.firstSnapshot(c) {
				ev.Passages = ps
			}
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

// pollRemote reads every followed remote turn, all in one query (and their new followers'
// passages in one more), and delivers what is new.
func (e *Engine) pollRemote(ctx context.Context) {
	e.followMu.Lock()
	ids := make([]int64, 0, len(e.remote))
	var fs []*remoteFollower
	for id, followers := range e.remote {
		ids = append(ids, id)
		for _, f := range followers {
			fs = append(fs, f)
		}
	}
	e.followMu.Unlock()
	if len(ids) == 0 {
		return
	}
	cands, err := e.store.Candidates(ctx, ids)
	if err != nil {
		e.logger.Warn("follow turns streaming elsewhere", "turns", len(ids), "err", err)
		return
	}
	// The passages' read sees the followers as they were; one that meanwhile got its first
	// snapshot (a resume) does not get them twice: deliver checks again under the lock.
	passages := e.passagesFor(ctx, cands, fs)
	byTurn := map[int64][]rlhf.Candidate{}
	for _, c := range cands {
		byTurn[c.TurnID] = append(byTurn[c.TurnID], c)
	}
	e.followMu.Lock()
	defer e.followMu.Unlock()
	for _, id := range ids {
		for conn, f := range e.remote[id] {
			if e.deliver(f, id, byTurn[id], passages) {
				e.unfollowRemoteLocked(id, conn)
			}
		}
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
