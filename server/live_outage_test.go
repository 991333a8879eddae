package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/rlhf"
)

// TestAFinishedCandidateSurvivesADatabaseOutage: the final save was tried once. With
// PostgreSQL briefly down, the trainer was told "complete" while the database kept the
// candidate streaming with no text, and every judgment of the turn was refused until a
// restart. Now the save is retried until it goes through, and done is sent only then.
func TestAFinishedCandidateSurvivesADatabaseOutage(t *testing.T) {
	t.Parallel()
	w := newLiveWorldWith(t, options{viaProxy: true})
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}))
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	s.until(func(ev map[string]any) bool { return ev["type"] == "delta" })

	w.proxy.Down() // PostgreSQL goes away mid-stream…
	events := make(chan map[string]any, 1024)
	go func() {
		defer close(events)
		for {
			var ev map[string]any
			if err := s.conn.ReadJSON(&ev); err != nil {
				return
			}
			events <- ev
		}
	}()
	var text strings.Builder
	// …for ten seconds, long after the stream itself has ended (200 pieces, 20 ms apart).
	outage := time.After(10 * time.Second)
	for waiting := true; waiting; {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the socket stays open through the outage")
			require.NotEqual(t, "done", ev["type"], "done before the final save went through: %v", ev)
			if ev["type"] == "delta" {
				text.WriteString(ev["content"].(string))
			}
		case <-outage:
			waiting = false
		}
	}
	w.proxy.Up()
	var done map[string]any
	for done == nil {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the socket stays open after the outage")
			if ev["type"] == "done" {
				done = ev
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no done within a minute of the database coming back")
		}
	}
	assert.Equal(t, "complete", done["status"], done)

	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	c := st.Candidates[0]
	assert.Equal(t, rlhf.StatusComplete, c.Status)
	assert.True(t, strings.HasPrefix(c.Content, "slow0 "), c.Content)
	assert.True(t, strings.HasSuffix(c.Content, "slow199 "), "the whole reply is saved: %q", c.Content)
	assert.Contains(t, c.Content, text.String(), "everything streamed during the outage is in it")
}
