package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestLatencyPhaseHoldsEnoughSamples holds Profile's open loops to LatencySamples requests
// each, so that a p99 rests on more than a handful of them, and leaves a smoke run short.
func TestLatencyPhaseHoldsEnoughSamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		phase time.Duration
		rate  float64
		want  time.Duration
	}{
		{"slow endpoint: longer than the phase", 2 * time.Second, 150, 10 * time.Second},
		{"fast endpoint: the phase is enough", 2 * time.Second, 1500, 2 * time.Second},
		{"smoke run stays short", 300 * time.Millisecond, 150, 300 * time.Millisecond},
		{"no rate", 2 * time.Second, 0, 2 * time.Second},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, latencyPhase(tc.phase, tc.rate), tc.name)
	}
}
