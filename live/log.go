package live

import (
	"maps"
	"strings"
)

// A candidate's event log. While it streams, the log holds every event (start, passages,
// each delta and reasoning piece, done), so a resume replays exactly what a client missed.
// Once the candidate is finished and every connection following the turn has sent its done,
// the log is compacted into one snapshot event numbered as the done: a finished turn kept in
// memory for resumes holds its text once, not once per piece plus 176 bytes of event each.
type candidateLog struct {
	events    []candidateEvent // events[i].Seq == base+i+1
	base      int64            // the sequence number before events[0]
	done      int64            // the done event's sequence number; 0 while it streams
	compacted bool
}

func (l *candidateLog) last() int64 { return l.base + int64(len(l.events)) }

// publish numbers ev, appends it to its candidate's log and wakes every connection that
// follows the turn. It returns ev's sequence number.
func (t *liveTurn) publish(ev candidateEvent) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.logs[ev.CandidateID]
	if l == nil {
		l = &candidateLog{}
		t.logs[ev.CandidateID] = l
		t.order = append(t.order, ev.CandidateID)
	}
	ev.Seq = l.last() + 1
	if l.compacted {
		// A regenerate streams the candidate again: its new events follow the snapshot.
		l.compacted, l.done = false, 0
	}
	l.events = append(l.events, ev)
	if ev.Type == "done" {
		l.done = ev.Seq
		t.compactDelivered()
	}
	for c := range t.subs {
		c.wake()
	}
	return ev.Seq
}

// seedSeqs starts the logs of candidates this turn has not seen at the sequence numbers the
// database has (a regenerate of a turn no longer in memory), so numbers never go back.
func (t *liveTurn) seedSeqs(seqs map[int64]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, seq := range seqs {
		if t.logs[id] == nil {
			t.logs[id] = &candidateLog{base: seq}
			t.order = append(t.order, id)
		}
	}
}

// lastSeqs is each candidate's last sequence number so far.
func (t *liveTurn) lastSeqs() map[int64]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int64]int64, len(t.logs))
	for id, l := range t.logs {
		out[id] = l.last()
	}
	return out
}

// subscribe has c follow the turn from after on (per candidate, the last seq it has).
func (t *liveTurn) subscribe(c *wsConn, after map[int64]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs[c] = maps.Clone(after)
	if t.subs[c] == nil {
		t.subs[c] = map[int64]int64{}
	}
}

// unsubscribe stops c following the turn.
func (t *liveTurn) unsubscribe(c *wsConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, c)
	t.compactDelivered()
}

// take returns the events c has not been sent yet, in each candidate's order (candidates one
// after the other, in the order they started), and moves c's cursor past them. delivered
// says that every stream of the turn has ended and c has been sent every candidate's final
// event: c need not follow the turn any more, and stops (take unsubscribes it).
func (t *liveTurn) take(c *wsConn) (evs []candidateEvent, delivered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sent, ok := t.subs[c]
	if !ok {
		return nil, true
	}
	delivered = t.running == 0
	for _, id := range t.order {
		l := t.logs[id]
		from := max(sent[id]-l.base, 0) // before base: the snapshot stands for what was compacted
		if from < int64(len(l.events)) {
			evs = append(evs, l.events[from:]...)
			sent[id] = l.last()
		}
		if l.done == 0 || sent[id] < l.done {
			delivered = false
		}
	}
	if len(evs) > 0 {
		t.compactDelivered()
	}
	if delivered {
		delete(t.subs, c)
	}
	return evs, delivered
}

// compactDelivered compacts every finished candidate's log whose done every follower has been
// sent; t.mu is held.
func (t *liveTurn) compactDelivered() {
	for id, l := range t.logs {
		if l.compacted || l.done == 0 || l.last() != l.done {
			continue
		}
		behind := false
		for _, sent := range t.subs {
			if sent[id] < l.done {
				behind = true
				break
			}
		}
		if !behind {
			l.compact()
		}
	}
}

// compact replaces the log with one snapshot event holding the candidate's whole reply and
// final state, numbered as its done.
func (l *candidateLog) compact() {
	done := l.events[len(l.events)-1]
	var text strings.Builder
	start := 0
	for i, ev := range l.events {
		if ev.Type == "start" {
			start = i // a regenerated candidate's text starts again at its last start
		}
	}
	for _, ev := range l.events[start:] {
		switch ev.Type {
		case "delta":
			text.WriteString(ev.Content)
		case "snapshot":
			text.Reset()
			text.WriteString(ev.Content)
		}
	}
	snap := done
	snap.Type, snap.Content = "snapshot", text.String()
	l.events = []candidateEvent{snap}
	l.base = done.Seq - 1
	l.compacted = true
}
