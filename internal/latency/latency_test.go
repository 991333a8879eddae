package latency

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int // records 1ms … n ms
		p    float64
		want time.Duration
	}{
		{"empty", 0, 50, 0},
		{"one", 1, 99, time.Millisecond},
		{"median of 100", 100, 50, 50 * time.Millisecond},
		{"p99 of 100", 100, 99, 99 * time.Millisecond},
		{"p99 of 1000", 1000, 99, 990 * time.Millisecond},
		{"max", 10, 100, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r Recorder
			for i := tt.n; i >= 1; i-- { // out of order on purpose
				r.Add(time.Duration(i) * time.Millisecond)
			}
			assert.Equal(t, tt.want, r.Percentile(tt.p))
		})
	}
}
