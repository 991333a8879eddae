package live

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestASaveWhoseAnswerIsLostNeverAppendsTwice drives the once-a-second save, which sends
// only the text added since the last save that went through. A proxy lets one save commit
// and then drops its answer, so the engine takes it for failed and sends the next save from
// the same base, with more text: the row must hold the stream's text exactly once. The
// finished candidate then holds exactly the whole text.
func TestASaveWhoseAnswerIsLostNeverAppendsTwice(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	direct, err := db.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(direct.Close)
	proxy := pgtest.NewProxy(t, url)
	pool, err := db.Connect(context.Background(), proxy.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store := rlhf.NewStore(direct)
	clock := &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	deps := testDeps(direct)
	deps.Pool, deps.Store = pool, rlhf.NewStore(pool) // only the saves go through the proxy
	e, err := New(deps, Config{Replica: "replica-a", Lease: 10 * time.Second, Sweep: time.Hour, Check: time.Hour, Now: clock.Now,
		Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
	require.NoError(t, err)
	l, until := e.lease()
	c := streamingCandidate(t, store, prompts.NewStore(direct), auth.NewStore(direct, nil), l)

	// The stream's text grows between saves; each piece is multi-byte, so a length counted
	// in bytes where PostgreSQL counts characters would show.
	var content, reasoning strings.Builder
	var seq int64
	var changes uint64
	grow := func(c, r string) {
		content.WriteString(c)
		reasoning.WriteString(r)
		seq++
		changes++
	}
	_, stop := context.WithCancelCause(context.Background())
	e.track(c.ID, until, stop, func() (streamText, uint64) {
		return streamText{content: content.String(), reasoning: reasoning.String(), seq: seq}, changes
	})
	saved := func(t *testing.T) (string, string, int64) {
		t.Helper()
		var content, reasoning string
		var seq int64
		require.NoError(t, direct.QueryRow(context.Background(), `SELECT m.content, c.reasoning, c.seq
			FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.id = $1`, c.ID).Scan(&content, &reasoning, &seq))
		return content, reasoning, seq
	}
	tracked := func() rlhf.Saved {
		e.flushMu.Lock()
		defer e.flushMu.Unlock()
		return e.tracked[c.ID].base
	}
	steps := []struct {
		name      string
		content   string
		reasoning string
		loseReply bool
	}{
		{"a first save", "第一段，", "想一想", false},
		{"a second save appends", "第二段，", "", false},
		{"a save that commits but whose answer is lost", "第三段，", "再想", true},
		{"the next save, from the base before the lost one", "第四段。", "", false},
		{"a save with nothing new", "", "", false},
		{"a save that changes nothing, answer lost", "", "", true},
		{"then more text", "完。", "好", false},
	}
	for _, s := range steps {
		clock.advance(time.Second)
		if s.content != "" || s.reasoning != "" {
			grow(s.content, s.reasoning)
		}
		before := tracked()
		if s.loseReply {
			proxy.LoseNextAnswerToBatch()
		}
		e.save(context.Background())
		gotContent, gotReasoning, gotSeq := saved(t)
		assert.Equal(t, content.String(), gotContent, s.name)
		assert.Equal(t, reasoning.String(), gotReasoning, s.name)
		assert.Equal(t, seq, gotSeq, s.name)
		if s.loseReply && s.content != "" {
			assert.Equal(t, before, tracked(), "%s: the engine still saves from the old base", s.name)
		}
	}
	// The last save before the end commits but its answer is lost: the final save, which
	// sends only what came after the engine's base, must not repeat the text the row has.
	clock.advance(time.Second)
	grow("尾声", "")
	proxy.LoseNextAnswerToBatch()
	e.save(context.Background())
	grow("！", "")
	base := e.untrack(c.ID)

	c.Owner, c.Content, c.Reasoning, c.Status, c.FinishReason, c.Seq = l.Owner, content.String(), reasoning.String(), rlhf.StatusComplete, "stop", seq+1
	_, ok := e.finishDurably(newLiveTurn(c.TurnID, 0, false), c, base)
	require.True(t, ok)
	turn, err := store.Turn(context.Background(), c.TurnID)
	require.NoError(t, err)
	assert.Equal(t, rlhf.StatusComplete, turn.Candidates[0].Status)
	assert.Equal(t, "第一段，第二段，第三段，第四段。完。尾声！", turn.Candidates[0].Content)
	assert.Equal(t, "想一想再想好", turn.Candidates[0].Reasoning)
}
