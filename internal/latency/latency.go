// Package latency records durations in benchmarks and reports their percentiles as
// benchmark metrics, which `make bench` copies into docs/benchmarks.md.
package latency

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Recorder collects durations; it is safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// Since records the time elapsed since start.
func (r *Recorder) Since(start time.Time) { r.Add(time.Since(start)) }

// Percentile returns the p-th percentile (0 < p ≤ 100) by the nearest-rank method.
func (r *Recorder) Percentile(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.d) == 0 {
		return 0
	}
	s := slices.Clone(r.d)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Report adds p50 and p99, in milliseconds, to the benchmark's output.
func (r *Recorder) Report(b *testing.B, prefix string) {
	b.ReportMetric(float64(r.Percentile(50).Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(r.Percentile(99).Microseconds())/1000, prefix+"p99-ms")
}
