package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunFunc(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("open loop sends every due call, numbered", func(t *testing.T) {
		t.Parallel()
		var seen [20]atomic.Bool
		res, err := RunFunc(ctx, Config{Rate: 100, Duration: 200 * time.Millisecond}, func(_ context.Context, seq int64) error {
			seen[seq].Store(true)
			return nil
		})
		require.NoError(t, err)
		assert.EqualValues(t, 20, res.Sent, "200 ms at 100/s is 20 calls, however late the loop wakes")
		for i := range seen {
			assert.True(t, seen[i].Load(), "call %d", i)
		}
	})
	t.Run("a failed call fails the phase", func(t *testing.T) {
		t.Parallel()
		_, err := RunFunc(ctx, Config{Concurrency: 2, Duration: 50 * time.Millisecond}, func(context.Context, int64) error {
			return errors.New("claim refused")
		})
		assert.ErrorContains(t, err, "claim refused")
	})
	t.Run("a rate or a concurrency, not both", func(t *testing.T) {
		t.Parallel()
		_, err := RunFunc(ctx, Config{Rate: 1, Concurrency: 1, Duration: time.Second}, func(context.Context, int64) error { return nil })
		assert.Error(t, err)
	})
}
