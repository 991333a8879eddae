package live

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestAStreamPastItsLeaseStopsAndNeverOverwritesARowGivenUp: the engine's database goes away
// mid-stream (a proxy cut) for longer than the stream's lease (an injected clock moves past
// it). The stream stops; nothing is said "done" while the database is away; once it is back:
//   - when nobody gave the row up, it is saved interrupted with everything streamed;
//   - when another replica's sweep gave it up meanwhile, the row keeps what that sweep found
//     (the text of the last save before the cut) and the trainer is told interrupted too.
//
// The upstream never ends its stream, so only the lease can stop it.
func TestAStreamPastItsLeaseStopsAndNeverOverwritesARowGivenUp(t *testing.T) {
	t.Parallel()
	for _, swept := range []bool{false, true} {
		t.Run(fmt.Sprintf("swept=%v", swept), func(t *testing.T) {
			t.Parallel()
			first, gone := make(chan struct{}), make(chan struct{})
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"第一段。\"}}]}\n\n")
				w.(http.Flusher).Flush()
				close(first)
				<-r.Context().Done() // never finishes by itself: only a stop ends it
				close(gone)
			}))
			t.Cleanup(upstream.Close)
			url := pgtest.URL(t)
			direct, err := db.Connect(context.Background(), url)
			require.NoError(t, err)
			t.Cleanup(direct.Close)
			proxy := pgtest.NewProxy(t, url)
			pool, err := db.Connect(context.Background(), proxy.URL())
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			ctx := context.Background()
			clock := &fakeClock{now: time.Now()}
			const lease = 3 * time.Second
			// The engine reaches the database only through the proxy; its prompts and accounts
			// are read directly, so only the live store's saves see the outage.
			e, persona, admin, cookie := startEngine(t, pool, direct, upstream.URL, "断线",
				Config{Replica: "replica-a", Lease: lease, Sweep: time.Hour, Check: time.Hour, Now: clock.Now})

			p := newPipe()
			go e.Serve(ctx, p, Caller{User: admin, Lang: "zh-CN", Credential: auth.Credential{Session: cookie}})
			t.Cleanup(func() { p.Close() })
			p.send(t, map[string]any{"type": "generate", "id": "g", "persona_id": persona.ID, "message": "免税额是多少？",
				"plan": []any{map[string]any{"prompt_version": 1, "model": "m1"}}})
			turn := p.next(t)
			require.Equal(t, "turn", turn["type"], turn)
			<-first
			store := rlhf.NewStore(direct)
			turnID := int64(turn["turn_id"].(float64))
			readRow := func() rlhf.Candidate {
				st, err := store.Turn(ctx, turnID)
				require.NoError(t, err)
				return st.Candidates[0]
			}
			require.Eventually(t, func() bool { return readRow().Content == "第一段。" }, 30*time.Second, 20*time.Millisecond,
				"the first piece is saved: the text a sweep would find")

			proxy.Down()
			clock.advance(lease + time.Second) // the lease runs out with no renewal possible
			if swept {
				// Another replica, once the database's clock is past the lease.
				ahead := func() time.Time { return time.Now().Add(lease + time.Second) }
				n, err := rlhf.NewStore(direct, rlhf.WithClock(ahead)).Sweep(ctx)
				require.NoError(t, err)
				require.EqualValues(t, 1, n, "another replica gives the stream up")
			}
			// The next save finds the lease run out and stops the stream (the upstream sees its
			// client go); the final save waits for the database.
			select {
			case <-gone:
			case <-time.After(30 * time.Second):
				t.Fatal("the stream goes on past its lease")
			}
			for len(p.out) > 0 {
				ev := <-p.out
				require.NotEqual(t, "done", ev["type"], "done before the database took the final state: %v", ev)
			}
			proxy.Up()
			var last map[string]any
			for last == nil {
				if ev := p.next(t); ev["type"] == "done" {
					last = ev
				}
			}
			assert.Equal(t, "interrupted", last["status"], last)
			c := readRow()
			assert.Equal(t, rlhf.StatusInterrupted, c.Status)
			assert.Equal(t, "第一段。", c.Content)
			if swept {
				assert.Equal(t, "the server streaming it stopped", c.Error, "the sweep's word stands: the owner did not write over it")
			} else {
				assert.Equal(t, "the server lost its database while it streamed", c.Error)
			}
		})
	}
}
