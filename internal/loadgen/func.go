package loadgen

import (
	"context"
	"errors"
)

// Func is one operation of an in-process phase; seq numbers the calls of a run from 0.
type Func func(ctx context.Context, seq int64) error

// RunFunc is Run for work in the benchmark's own process, where what is measured is a
// store's method rather than an endpoint (the campaign claim: each claim is followed by a
// skip that an HTTP load cannot chain, since it needs the claim's id). It is Run's scheduler
// (schedule) with fn in place of a request: a closed loop of cfg.Concurrency callers, or an
// open loop at cfg.Rate calls a second timed from each call's due time. Only Concurrency,
// Rate and Duration are read; any failed call fails the phase.
func RunFunc(ctx context.Context, cfg Config, fn Func) (Result, error) {
	if cfg.Duration <= 0 || (cfg.Concurrency <= 0) == (cfg.Rate <= 0) {
		return Result{}, errors.New("loadgen: name a duration, and either a concurrency or a rate")
	}
	res := schedule(ctx, cfg, fn)
	if res.Failed > 0 {
		return res, errors.New("loadgen: " + res.FirstError)
	}
	return res, ctx.Err()
}
