package live

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pending is what the connection's writer would send now, as events.
func (c *wsConn) pending() []candidateEvent {
	var out []candidateEvent
	for _, sp := range c.pendingSpans(nil) {
		for i, en := range sp.entries {
			out = append(out, eventOf(en, sp.turnID, sp.candidateID, sp.first+int64(i)))
		}
	}
	return out
}

// events is the whole log, as events.
func (l *candidateLog) events() []candidateEvent {
	out := make([]candidateEvent, len(l.entries))
	for i := range l.entries {
		out[i] = l.event(i)
	}
	return out
}

func testConn() *wsConn {
	return &wsConn{send: make(chan any, sendQueue), reason: make(chan closeReason, 1),
		follows: map[*liveTurn]struct{}{}, woken: make(chan struct{}, 1)}
}

// streamOne publishes one candidate's whole stream on lt: start, passages, pieces, done.
func streamOne(lt *liveTurn, candidate int64, pieces ...string) {
	lt.publish(candidateEvent{Type: "start", TurnID: lt.id, CandidateID: candidate})
	lt.publish(candidateEvent{Type: "passages", TurnID: lt.id, CandidateID: candidate})
	for _, p := range pieces {
		lt.publish(candidateEvent{Type: "delta", TurnID: lt.id, CandidateID: candidate, Content: p})
	}
	lt.publish(candidateEvent{Type: "done", TurnID: lt.id, CandidateID: candidate, Status: "complete", HTML: "<p>x</p>"})
}

// TestAFinishedCandidateIsCompactedOnceDelivered: a finished candidate's log shrinks to one
// snapshot once every follower has sent its done (never before: a follower behind gets every
// event), and a connection stops following a turn once it is finished and delivered.
func TestAFinishedCandidateIsCompactedOnceDelivered(t *testing.T) {
	t.Parallel()
	lt := newLiveTurn(1, 7, false)
	lt.expect(1)
	fast, slow := testConn(), testConn()
	fast.follow(lt, nil)
	slow.follow(lt, nil)
	streamOne(lt, 10, "免税额", "是", "50元。")
	done := int64(6)

	evs := fast.pending()
	require.Len(t, evs, 6, "the fast follower gets every event")
	assert.Equal(t, "done", evs[5].Type)
	assert.Len(t, lt.logs[10].events(), 6, "not compacted while a follower has not sent the done")

	evs = slow.pending()
	require.Len(t, evs, 6, "the slow follower gets every event too, not a snapshot")
	require.Len(t, lt.logs[10].events(), 1, "compacted once every follower has the done")
	snap := lt.logs[10].events()[0]
	assert.Equal(t, "snapshot", snap.Type)
	assert.Equal(t, done, snap.Seq)
	assert.Equal(t, "免税额是50元。", snap.Content)
	assert.Equal(t, "<p>x</p>", snap.HTML)

	assert.Len(t, fast.follows, 1, "the turn's stream has not ended yet")
	lt.mu.Lock()
	lt.running--
	lt.mu.Unlock()
	fast.wake()
	assert.Empty(t, fast.pending())
	assert.Empty(t, fast.follows, "finished and delivered: no longer followed")
	assert.NotContains(t, lt.subs, fast)

	for _, tt := range []struct {
		name  string
		after map[int64]int64
		want  int
	}{
		{"a resume from nothing gets the snapshot", nil, 1},
		{"a resume from mid-stream gets the snapshot", map[int64]int64{10: 3}, 1},
		{"a resume that has the done gets nothing", map[int64]int64{10: done}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testConn()
			c.follow(lt, tt.after)
			evs := c.pending()
			require.Len(t, evs, tt.want)
			if tt.want > 0 {
				assert.Equal(t, "snapshot", evs[0].Type)
				assert.Equal(t, done, evs[0].Seq)
			}
			assert.Empty(t, c.follows)
		})
	}

	// A regenerate numbers on after the snapshot, and its text starts afresh.
	lt.expect(1)
	again := testConn()
	again.followFromNow(lt)
	streamOne(lt, 10, "重新", "生成")
	evs = again.pending()
	require.Len(t, evs, 5)
	assert.Equal(t, done+1, evs[0].Seq)
	assert.Len(t, lt.logs[10].events(), 6, "the slow follower still follows, and has not sent the new done")
	require.Len(t, slow.pending(), 5)
	require.Len(t, lt.logs[10].events(), 1)
	assert.Equal(t, "重新生成", lt.logs[10].events()[0].Content, "compacted again: the new reply only")
}

// BenchmarkFollowManyTurns is a long-lived socket that follows 1,000 turns, one after the
// other, each of four candidates streaming 200 pieces. It reports the live heap after a GC
// (bytes per finished turn kept for resumes, and per idle connection) and how many turns the
// socket still follows, which must be 0: memory is bounded by what is still streaming, not by
// the socket's age. MENTOR_BENCH_TURNS sets the number of turns (default 1000).
func BenchmarkFollowManyTurns(b *testing.B) {
	turns := benchSize(b, "MENTOR_BENCH_TURNS", 1000)
	piece := strings.Repeat("字", 4)
	for range b.N {
		c := testConn()
		kept := make([]*liveTurn, 0, turns) // the engine keeps finished turns for keepFinished
		before := liveHeap()
		for i := range turns {
			lt := newLiveTurn(int64(i+1), 7, false)
			lt.expect(4)
			c.follow(lt, nil)
			for cand := range int64(4) {
				pieces := make([]string, 200)
				for k := range pieces {
					pieces[k] = piece
				}
				streamOne(lt, int64(i)*4+cand, pieces...)
				lt.mu.Lock()
				lt.running--
				lt.mu.Unlock()
			}
			c.pending()
			kept = append(kept, lt)
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/float64(turns), "heap-B/finished-turn")
		b.ReportMetric(float64(len(c.follows)), "turns-followed")
		if len(c.follows) != 0 {
			b.Fatalf("the socket still follows %d finished turns", len(c.follows))
		}
		runtime.KeepAlive(kept)

		conns := make([]*wsConn, turns)
		before = liveHeap()
		for i := range conns {
			conns[i] = testConn()
		}
		b.ReportMetric(float64(liveHeap()-before)/float64(turns), "heap-B/idle-conn")
		runtime.KeepAlive(conns)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestAPieceEncodesAsEncodingJSONDoes: the writer's own encoding of a piece of text is byte
// for byte what gorilla's WriteJSON (encoding/json) writes for the same event.
func TestAPieceEncodesAsEncodingJSONDoes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		content   string
		reasoning bool
	}{
		{"plain", "hello", false},
		{"Chinese", "应征进口税税额", false},
		{"reasoning", "想一想", true},
		{"quotes and backslashes", `say "hi" \ bye`, false},
		{"control characters", "a\nb\rc\td\x00e\x1ff\bg\fh", false},
		{"HTML characters", "<b>&amp;</b>", false},
		{"line and paragraph separators", "a\u2028b\u2029c", false},
		{"invalid UTF-8", "a\xffb\xe4\xb8c", false},
		{"emoji", "👍🏽", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			en := logEntry{content: tt.content, reasoning: tt.reasoning}
			var want bytes.Buffer
			require.NoError(t, json.NewEncoder(&want).Encode(eventOf(en, 51, 204, 7)))
			assert.Equal(t, want.String(), string(appendPiece(nil, en, 51, 204, 7)))
		})
	}
}
