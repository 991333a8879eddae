package loadgen

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Func is one operation of an in-process phase; seq numbers the calls of a run from 0.
type Func func(ctx context.Context, seq int64) error

// RunFunc is Run for work in the benchmark's own process, where what is measured is a
// store's method rather than an endpoint (the campaign claim: each claim is followed by a
// skip that an HTTP load cannot chain, since it needs the claim's id). It keeps Run's
// rules: a closed loop of cfg.Concurrency callers, or an open loop at cfg.Rate calls a
// second that never skips a due call and times each from when it was due, so a call that
// waited behind others counts its wait. Only Concurrency, Rate and Duration are read; any
// failed call fails the phase.
func RunFunc(ctx context.Context, cfg Config, fn Func) (Result, error) {
	if cfg.Duration <= 0 || (cfg.Concurrency <= 0) == (cfg.Rate <= 0) {
		return Result{}, errors.New("loadgen: name a duration, and either a concurrency or a rate")
	}
	var seq, failed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lat []time.Duration
	call := func(due time.Time) {
		if err := fn(ctx, seq.Add(1)-1); err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err.Error())
			}
			return
		}
		d := time.Since(due)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	}
	cpu0 := cpuTime()
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	if cfg.Concurrency > 0 {
		for range cfg.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					call(time.Now())
				}
			})
		}
	} else {
		// As Run's open loop: each call is due at start + i/rate, and a late wake-up starts
		// the overdue ones at once.
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		sem := make(chan struct{}, maxInFlight)
		for i := int64(0); ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(end) || ctx.Err() != nil {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				call(due)
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Sent: seq.Load(), Failed: failed.Load(), Seconds: elapsed.Seconds(),
		CPUMillis: float64(cpuTime()-cpu0) / float64(time.Millisecond)}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.PerSecond = float64(len(lat)) / elapsed.Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		rank := int(p/100*float64(len(lat))+0.999999) - 1
		return float64(lat[min(max(rank, 0), len(lat)-1)]) / float64(time.Millisecond)
	}
	res.P50Millis, res.P90Millis, res.P99Millis, res.MaxMillis = pct(50), pct(90), pct(99), pct(100)
	if res.Failed > 0 {
		return res, errors.New("loadgen: " + res.FirstError)
	}
	return res, ctx.Err()
}
