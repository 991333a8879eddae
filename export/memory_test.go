package export_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/export"
)

// countWriter counts bytes and throws them away.
type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestStreamingMemoryIsBounded exports 200,000 preference pairs while sampling the heap:
// the heap must stay far below the size of the output, which it would exceed if the rows
// were collected before writing.
func TestStreamingMemoryIsBounded(t *testing.T) {
	// Not parallel: HeapInuse is the whole process's, so another test's rows would count as this
	// export's (a CI run under -race failed so, at 59 MB, beside the filters' tests).
	w := newWorld(t)
	const pairs = 200_000
	bulkPairs(t, w, pairs)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	})
	out := &countWriter{}
	_, stats, err := export.New(w.pool, nil).Stream(context.Background(),
		export.Spec{Format: "trl-dpo", Filter: export.Filter{Project: "exports"}}, "", out)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, pairs, stats.Rows)

	grew := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("wrote %d rows, %d MB; heap in use grew by at most %d MB", stats.Rows, out.n.Load()>>20, grew>>20)
	assert.Greater(t, out.n.Load(), int64(100<<20), "the export is large enough for the bound to mean something")
	// The seen-set for duplicates costs ~20 bytes a row (4 MB here); everything else is one
	// row at a time plus pgx's and the encoder's buffers.
	assert.Less(t, grew, int64(48<<20), "the heap grew with the rows: they are being held, not streamed")
}
