package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// waitEvery is how often a WaitSampler looks at pg_stat_activity: a stall of a few tens of
// milliseconds (the relation-extension waits below) is seen two or three times. That is 100
// small queries a second from the sampler's own backend, which Measure does not count.
const waitEvery = 10 * time.Millisecond

// WaitSampler counts what the active backends of one database wait on, sampled from
// pg_stat_activity while a phase runs, so that a benchmark says where its tail comes from.
// BenchmarkJudgmentSubmit's p99 at 70% of capacity rested, on one 2-core machine, on bursts
// in which five to eight backends queued 30–40 ms for the lock that extends preference_pairs
// by a page (Lock:extend: PostgreSQL 15 adds a page at a time and holds the lock while the
// file grows), and on another on waits for the WAL flush (docs/benchmarks.md).
//
// It watches from a connection to the cluster's postgres database, so that its own backend
// is not one of the database's that Measure counts.
type WaitSampler struct {
	conn *pgx.Conn
	db   string
}

// NewWaitSampler connects a sampler for pool's database.
func NewWaitSampler(ctx context.Context, pool *pgxpool.Pool) (*WaitSampler, error) {
	cfg := pool.Config().ConnConfig.Copy()
	db := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("wait sampler: connect: %w", err)
	}
	return &WaitSampler{conn: conn, db: db}, nil
}

// Close closes the sampler's connection.
func (s *WaitSampler) Close(ctx context.Context) error { return s.conn.Close(ctx) }

// Waits is what the sampled backends were doing: per wait event ("Lock:extend",
// "IO:WALSync", …, and "CPU" for a backend on a core or waiting for one), how many times an
// active backend was seen in it.
type Waits map[string]int

// Add adds o's counts to w.
func (w Waits) Add(o Waits) {
	for k, n := range o {
		w[k] += n
	}
}

// Share is the percentage of all samples of active backends that were in one of events.
func (w Waits) Share(events ...string) float64 {
	total, in := 0, 0
	for _, n := range w {
		total += n
	}
	for _, e := range events {
		in += w[e]
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(in) / float64(total)
}

// String lists the events, commonest first, with their shares: "CPU 71%, Lock:extend 9%, …".
func (w Waits) String() string {
	keys := slices.Collect(maps.Keys(w))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(w[b], w[a]), strings.Compare(a, b)) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", k, w.Share(k)))
	}
	return strings.Join(parts, ", ")
}

// During samples while fn runs and returns the counts. A sample that fails ends the
// sampling with an error; fn's own error comes first.
func (s *WaitSampler) During(ctx context.Context, fn func() error) (Waits, error) {
	// A stop channel, not a cancelled context: pgx closes a connection whose query's
	// context ends, and the sampler's connection serves the next phase too.
	stop := make(chan struct{})
	type result struct {
		waits Waits
		err   error
	}
	done := make(chan result, 1)
	go func() {
		w, err := s.sample(ctx, stop)
		done <- result{w, err}
	}()
	fnErr := fn()
	close(stop)
	r := <-done
	if fnErr != nil {
		return nil, fnErr
	}
	return r.waits, r.err
}

func (s *WaitSampler) sample(ctx context.Context, stop <-chan struct{}) (Waits, error) {
	w := Waits{}
	tick := time.NewTicker(waitEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return w, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		rows, _ := s.conn.Query(ctx, `
			SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)
			FROM pg_stat_activity
			WHERE datname = $1 AND state = 'active' AND backend_type = 'client backend'
			GROUP BY 1`, s.db)
		var event string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&event, &n}, func() error { w[event] += n; return nil }); err != nil {
			return nil, fmt.Errorf("wait sampler: %w", err)
		}
	}
}
