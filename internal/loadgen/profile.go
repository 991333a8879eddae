package loadgen

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PhaseDuration is how long each phase of a Profile lasts: MENTOR_BENCH_PHASE (a Go
// duration), 2s unless set. A smoke run sets it short, e.g. MENTOR_BENCH_PHASE=300ms.
func PhaseDuration(tb testing.TB) time.Duration {
	s := os.Getenv("MENTOR_BENCH_PHASE")
	if s == "" {
		return 2 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		tb.Fatalf("MENTOR_BENCH_PHASE=%q: want a positive duration such as 2s", s)
	}
	return d
}

// Profile measures one endpoint the way issue 17 asks, and reports it on b:
//
//   - a concurrency sweep of closed loops finds capacity: the most answers a second;
//   - three more closed runs at the best concurrency give the CPU per operation of the
//     server process (go-cpu-ms/op) and of PostgreSQL (pg-cpu-ms/op), and the server's
//     allocations per operation (server-allocs/op, server-B/op: the framework's allocs/op
//     and B/op divide the whole benchmark, setup included, by one iteration);
//   - three open-loop runs at 50% and three at 70% of capacity give latency from each
//     request's due time, each long enough for LatencySamples requests, and the CPU per
//     operation at that load (go-cpu-ms/op@70%, pg-cpu-ms/op@70%, …), and the share of
//     PostgreSQL's active backends found queueing to extend a relation (pg-extend-wait-%@70%)
//     or waiting for WAL to be flushed (pg-commit-wait-%@70%), from WaitSampler.
//
// It starts with a CHECKPOINT (the pool's role must be allowed one: a superuser, or
// pg_checkpoint's member).
//
// Each figure is the median of its three runs, with the spread (max − min) as a percentage
// of the median beside it. The load comes from loadgen's own process; pool is the server's,
// whose database's backends Measure counts.
func (bin Binary) Profile(b *testing.B, pool *pgxpool.Pool, cfg Config, levels []int) {
	b.Helper()
	ctx := context.Background()
	phase := PhaseDuration(b)
	cfg.Duration = phase
	seq := cfg.SeqStart
	run := func(c Config) Result {
		b.Helper()
		c.SeqStart = seq
		res, err := bin.Run(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		seq += res.Sent + 1
		return res
	}
	// A checkpoint first, so that no timed checkpoint of the benchmarks before this one
	// (a million-row campaign's writes, say) falls in its phases: its writes compete with
	// every commit's WAL flush, and where it fell decided the p99 (BenchmarkJudgmentSubmit's
	// p99-ms@50% swung by 108% between runs of one make bench). This benchmark's own
	// checkpoints, which its writes bring on, still count.
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		b.Fatalf("checkpoint before the profile: %v", err)
	}
	best, capacity := 0, 0.0
	for _, n := range levels {
		c := cfg
		c.Concurrency = n
		res := run(c)
		b.Logf("closed loop C=%d: %.0f/s, p50 %.2f ms, p99 %.2f ms", n, res.PerSecond, res.P50Millis, res.P99Millis)
		if res.PerSecond > capacity*1.03 { // more in flight must buy more than noise
			best, capacity = n, res.PerSecond
		}
	}
	var caps, goCPU, pgCPU, allocs, bytes, genCPU []float64
	for range 3 {
		c := cfg
		c.Concurrency = best
		var res Result
		u, err := Measure(ctx, pool, func() error { res = run(c); return nil })
		if err != nil {
			b.Fatal(err)
		}
		g, p, a, by := u.PerOp(res.Sent)
		caps, goCPU, pgCPU, allocs, bytes = append(caps, res.PerSecond), append(goCPU, g), append(pgCPU, p), append(allocs, a), append(bytes, by)
		genCPU = append(genCPU, res.CPUMillis/float64(max(res.Sent, 1)))
	}
	b.ReportMetric(0, "ns/op") // the benchmark's own duration says nothing here
	report(b, caps, "capacity/s")
	b.ReportMetric(float64(best), "best-C")
	report(b, goCPU, "go-cpu-ms/op")
	report(b, pgCPU, "pg-cpu-ms/op")
	b.ReportMetric(median(genCPU), "loadgen-cpu-ms/op")
	b.ReportMetric(median(allocs), "server-allocs/op")
	b.ReportMetric(median(bytes), "server-B/op")
	capacity = median(caps)
	waits, err := NewWaitSampler(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	defer waits.Close(ctx)
	for _, share := range []float64{0.5, 0.7} {
		var p50, p99, goAt, pgAt, extend, commit []float64
		var conns int64
		seen := Waits{}
		for range 3 {
			c := cfg
			c.Rate = share * capacity
			c.Duration = latencyPhase(phase, c.Rate)
			var res Result
			var u Usage
			w, err := waits.During(ctx, func() (err error) {
				u, err = Measure(ctx, pool, func() error { res = run(c); return nil })
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			extend = append(extend, w.Share("Lock:extend"))
			commit = append(commit, w.Share("LWLock:WALWrite", "IO:WALSync", "IO:WALWrite"))
			seen.Add(w)
			g, p, _, _ := u.PerOp(res.Sent)
			p50, p99, goAt, pgAt = append(p50, res.P50Millis), append(p99, res.P99Millis), append(goAt, g), append(pgAt, p)
			conns = max(conns, res.Conns)
		}
		at := fmt.Sprintf("@%.0f%%", share*100)
		report(b, p50, "p50-ms"+at)
		report(b, p99, "p99-ms"+at)
		// The CPU of an operation at this load, beside the figure at capacity above: at
		// capacity every process waits for a core, and the waiting (context switches, cold
		// caches, contended locks) costs CPU of its own.
		report(b, goAt, "go-cpu-ms/op"+at)
		report(b, pgAt, "pg-cpu-ms/op"+at)
		// The share of the active backends' samples that queued to extend a table or index
		// by a page (WaitSampler): the stalls behind a tail that CPU does not explain.
		b.ReportMetric(median(extend), "pg-extend-wait-%"+at)
		// And the share waiting for WAL to reach the disk: a commit's flush, or the lock of
		// the backend flushing for it (LWLock:WALWrite), which a descheduled flusher holds
		// for everyone when the cores are busy.
		b.ReportMetric(median(commit), "pg-commit-wait-%"+at)
		b.Logf("open loop at %.0f/s (%s of capacity): at most %d connections; active backends: %v", share*capacity, at, conns, seen)
	}
}

// LatencySamples is how many requests an open-loop phase of Profile sends at least, when
// phases are a second or longer: at 2 s and 170 requests a second a p99 rests on its four
// slowest requests, and the median of three such runs still swung by 50–90% between runs
// (BenchmarkJudgmentSubmit's p99-ms@70%±%, issue 17). 1,500 rests it on fifteen. A smoke run
// (MENTOR_BENCH_PHASE under a second) keeps its short phases.
const LatencySamples = 1500

// latencyPhase is how long an open loop at rate runs: phase, or long enough for
// LatencySamples requests.
func latencyPhase(phase time.Duration, rate float64) time.Duration {
	if phase < time.Second || rate <= 0 {
		return phase
	}
	return max(phase, time.Duration(float64(LatencySamples)/rate*float64(time.Second)))
}

// ReportMedian reports the median of xs as unit and its spread (max − min, as a percentage
// of the median) as unit±%, as Profile does: for benchmarks that repeat a measurement of
// their own three times (issue 17).
func ReportMedian(b *testing.B, xs []float64, unit string) { report(b, xs, unit) }

// report adds the median of xs as unit and its spread as unit's spread-%.
func report(b *testing.B, xs []float64, unit string) {
	m := median(xs)
	b.ReportMetric(m, unit)
	if m != 0 {
		b.ReportMetric(100*(slices.Max(xs)-slices.Min(xs))/m, unit+"±%")
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
