package loadgen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/loadgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestWaitSamplerSeesWhatBackendsWaitOn has backends of a database sleep and then queue for
// a table lock while the sampler watches, and expects both wait events among its samples;
// a second phase on the same sampler shows its connection outlives the first.
func TestWaitSamplerSeesWhatBackendsWaitOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s, err := loadgen.NewWaitSampler(ctx, pool)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(ctx) })

	slept, err := s.During(ctx, func() error {
		_, err := pool.Exec(ctx, `SELECT pg_sleep(0.3)`)
		return err
	})
	require.NoError(t, err)
	assert.Positive(t, slept["Timeout:PgSleep"], "samples: %v", slept)
	assert.Greater(t, slept.Share("Timeout:PgSleep"), 50.0, "samples: %v", slept)

	_, err = pool.Exec(ctx, `CREATE TABLE locked (id int)`)
	require.NoError(t, err)
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	committed := false
	// Should the test stop before the commit, the pool's cleanup must not wait on it.
	t.Cleanup(func() {
		if !committed {
			_ = holder.Rollback(ctx)
		}
	})
	_, err = holder.Exec(ctx, `LOCK TABLE locked IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	queued, err := s.During(ctx, func() error {
		released := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond) // long enough for the sampler to see the queue
			released <- holder.Commit(ctx)
		}()
		_, err := pool.Exec(ctx, `SELECT count(*) FROM locked`)
		commitErr := <-released
		committed = true
		return errors.Join(err, commitErr)
	})
	require.NoError(t, err)
	assert.Positive(t, queued["Lock:relation"], "samples: %v", queued)
	assert.Zero(t, queued["Timeout:PgSleep"], "the first phase's samples stay its own: %v", queued)
}

// TestWaitsShareAndString checks the arithmetic the benchmark report rests on.
func TestWaitsShareAndString(t *testing.T) {
	t.Parallel()
	w := loadgen.Waits{"CPU": 6, "Lock:extend": 3}
	w.Add(loadgen.Waits{"Lock:extend": 1})
	assert.InDelta(t, 40.0, w.Share("Lock:extend"), 1e-9)
	assert.InDelta(t, 100.0, w.Share("CPU", "Lock:extend", "IO:WALSync"), 1e-9, "several events add up")
	assert.Zero(t, w.Share("IO:WALSync"))
	assert.Zero(t, loadgen.Waits{}.Share("CPU"))
	assert.Equal(t, "CPU 60.0%, Lock:extend 40.0%", w.String())
}
