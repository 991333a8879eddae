package live

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestAPanickingCommandIsAnsweredAndFreesItsSlots: a panic inside generate (the shipped
// server's nil Live was one) killed the connection silently and kept the trainer's
// generation slots until a restart. Now the command is answered with an error event, its
// stack is logged, the slots it reserved go back, and the connection goes on.
func TestAPanickingCommandIsAnsweredAndFreesItsSlots(t *testing.T) {
	t.Parallel()
	store := auth.NewStore(pgtest.Pool(t), nil)
	gate := newGate(Limits{Concurrent: 4}, store)
	const user = 7
	lw := &syncWriter{w: &bytes.Buffer{}}
	logger := slog.New(slog.NewTextHandler(lw, nil))
	handle := func(ctx context.Context, typ string, raw []byte) error {
		slots, err := gate.reserve(ctx, user, 4)
		if err != nil {
			return err
		}
		defer slots.releaseRest()
		var turns []int
		return fmt.Errorf("unreachable: %d", turns[len(turns)]) // out of range: the kind of bug that panics
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		require.NoError(t, err)
		wc := &wsConn{conn: conn, userID: user, send: make(chan any, sendQueue), reason: make(chan closeReason, 1),
			follows: map[*liveTurn]struct{}{}, woken: make(chan struct{}, 1)}
		go wc.writePump()
		wc.readPump(r.Context(), logger, func([]byte) error { return nil }, handle)
	}))
	t.Cleanup(srv.Close)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	read := func() map[string]any {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		var ev map[string]any
		require.NoError(t, conn.ReadJSON(&ev))
		return ev
	}

	for range 3 { // more times than the limit allows, had the slots leaked
		require.NoError(t, conn.WriteJSON(map[string]any{"type": "generate", "id": "g"}))
		ev := read()
		assert.Equal(t, "error", ev["type"])
		assert.Equal(t, "g", ev["id"])
		assert.Equal(t, "internal", ev["code"])
		assert.Equal(t, "internal error", ev["message"], "the client learns nothing of the bug")
		assert.Zero(t, gate.activeFor(user), "the panicking command's slots went back")
	}
	require.NoError(t, conn.WriteJSON(map[string]any{"type": "heartbeat", "id": "h"}))
	assert.Equal(t, "heartbeat", read()["type"], "the connection survives the panic")
	logs := func() string { lw.mu.Lock(); defer lw.mu.Unlock(); return lw.w.String() }
	out := logs()
	assert.Contains(t, out, "websocket command panicked")
	assert.Contains(t, out, "command_panic_test.go", "the log carries the stack")
}

// syncWriter lets the server's goroutines log into one buffer while the test reads it.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
