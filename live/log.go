package live

import (
	"maps"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A candidate's event log. While it streams, the log holds every event (start, passages,
// each delta and reasoning piece, done), so a resume replays exactly what a client missed.
// Once the candidate is finished and every connection following the turn has sent its done,
// the log is compacted into one snapshot event numbered as the done: a finished turn kept in
// memory for resumes holds its text once.
//
// A piece of text, nearly every event, is kept as a logEntry of its text alone (32 bytes and
// the text, against 176 for a whole candidateEvent): its type, turn, candidate and number
// follow from where it stands in the log. Connections take what they have not sent as spans
// of the log itself, never copies: entries are only ever appended, so a span taken under the
// lock stays valid after it (compacting replaces the log's slice, it does not write into it).
type candidateLog struct {
	entries []logEntry // entries[i] is the event numbered base+i+1
	base    int64      // the sequence number before entries[0]
	done    int64      // the done event's sequence number; 0 while it streams
	turnID  int64
	id      int64 // the candidate's
	// compacted: the log is one snapshot, standing for every event up to its number.
	compacted bool
}

// logEntry is one event of a log: a piece of text (content, reasoning says which kind), or
// any other event whole (full).
type logEntry struct {
	content   string
	full      *candidateEvent
	reasoning bool
}

func (l *candidateLog) last() int64 { return l.base + int64(len(l.entries)) }

// event is the log's entry i as the client gets it.
func (l *candidateLog) event(i int) candidateEvent {
	return eventOf(l.entries[i], l.turnID, l.id, l.base+int64(i)+1)
}

func eventOf(en logEntry, turnID, candidateID, seq int64) candidateEvent {
	if en.full != nil {
		return *en.full
	}
	typ := "delta"
	if en.reasoning {
		typ = "reasoning"
	}
	return candidateEvent{Type: typ, TurnID: turnID, CandidateID: candidateID, Seq: seq, Content: en.content}
}

// logSpan is a run of one candidate's events a connection has not sent yet: entries are a
// span of the log (shared, read-only), the first numbered first.
type logSpan struct {
	turnID, candidateID int64
	first               int64
	entries             []logEntry
}

// publish numbers ev, appends it to its candidate's log and wakes every connection that
// follows the turn. It returns ev's sequence number.
func (t *liveTurn) publish(ev candidateEvent) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.logs[ev.CandidateID]
	if l == nil {
		l = &candidateLog{turnID: t.id, id: ev.CandidateID}
		t.logs[ev.CandidateID] = l
		t.order = append(t.order, ev.CandidateID)
	}
	ev.Seq = l.last() + 1
	if l.compacted {
		// A regenerate streams the candidate again: its new events follow the snapshot.
		l.compacted, l.done = false, 0
	}
	switch ev.Type {
	case "delta", "reasoning":
		l.entries = append(l.entries, logEntry{content: ev.Content, reasoning: ev.Type == "reasoning"})
	default:
		l.entries = append(l.entries, logEntry{full: &ev})
	}
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
			t.logs[id] = &candidateLog{base: seq, turnID: t.id, id: id}
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

// take appends to spans the events c has not been sent yet, in each candidate's order
// (candidates one after the other, in the order they started), as spans of the logs, and
// moves c's cursor past them. delivered says that every stream of the turn has ended and c
// has been sent every candidate's final event: c need not follow the turn any more, and stops
// (take unsubscribes it).
func (t *liveTurn) take(c *wsConn, spans []logSpan) (_ []logSpan, delivered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sent, ok := t.subs[c]
	if !ok {
		return spans, true
	}
	delivered = t.running == 0
	took := false
	for _, id := range t.order {
		l := t.logs[id]
		from := max(sent[id]-l.base, 0) // before base: the snapshot stands for what was compacted
		if from < int64(len(l.entries)) {
			spans = append(spans, logSpan{turnID: l.turnID, candidateID: l.id, first: l.base + from + 1, entries: l.entries[from:len(l.entries):len(l.entries)]})
			sent[id] = l.last()
			took = true
		}
		if l.done == 0 || sent[id] < l.done {
			delivered = false
		}
	}
	if took {
		t.compactDelivered()
	}
	if delivered {
		delete(t.subs, c)
	}
	return spans, delivered
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
// final state, numbered as its done. It builds a new slice: spans connections took of the
// old one stay as they were.
func (l *candidateLog) compact() {
	done := *l.entries[len(l.entries)-1].full
	start := 0
	for i, en := range l.entries {
		if en.full != nil && en.full.Type == "start" {
			start = i // a regenerated candidate's text starts again at its last start
		}
	}
	var text strings.Builder
	for _, en := range l.entries[start:] {
		switch {
		case en.full == nil && !en.reasoning:
			text.WriteString(en.content)
		case en.full != nil && en.full.Type == "snapshot":
			text.Reset()
			text.WriteString(en.full.Content)
		}
	}
	snap := done
	snap.Type, snap.Content = "snapshot", text.String()
	l.entries = []logEntry{{full: &snap}}
	l.base = done.Seq - 1
	l.compacted = true
}

// appendPiece appends a piece of text's event as JSON, byte for byte what encoding/json
// writes for its candidateEvent (TestAPieceEncodesAsEncodingJSONDoes): the writer sends most
// events this way, without reflection or an allocation each.
func appendPiece(b []byte, en logEntry, turnID, candidateID, seq int64) []byte {
	b = append(b, `{"type":"`...)
	if en.reasoning {
		b = append(b, "reasoning"...)
	} else {
		b = append(b, "delta"...)
	}
	b = append(b, `","turn_id":`...)
	b = strconv.AppendInt(b, turnID, 10)
	b = append(b, `,"candidate_id":`...)
	b = strconv.AppendInt(b, candidateID, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	if en.content != "" {
		b = append(b, `,"content":`...)
		b = appendJSONString(b, en.content)
	}
	return append(b, '}', '\n')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it (HTML
// characters, U+2028 and U+2029 included; invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
