// Package jobs sets up Mentor's background work on River. Stores queue jobs inside their
// own transactions through an Inserter, which they get at construction; one Runner per
// process works the jobs of every package that registered workers. The two are separate
// River clients because an insert-only client needs no workers: a store can exist before
// the workers that need that store, and a command that only queues work (an import) never
// starts a runner.
package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Inserter enqueues a job inside the caller's transaction, so the job exists exactly when
// the rows it works on do. *river.Client[pgx.Tx] is one.
type Inserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// NewInserter returns an insert-only River client on pool.
func NewInserter(pool *pgxpool.Pool) (*river.Client[pgx.Tx], error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	return client, nil
}

// Registration is one package's share of the runner: its workers, added to the runner's
// set, and the queues they run on with how many jobs each works at once.
type Registration struct {
	Name   string // for errors: which package's workers failed to register
	Add    func(*river.Workers) error
	Queues map[string]river.QueueConfig
	// Periodic are jobs the runner inserts on a schedule (the leader among replicas only).
	Periodic []*river.PeriodicJob
}

// NewRunner returns a River client on pool that, once started, works the jobs of every
// registration. Two registrations may not claim the same queue.
func NewRunner(pool *pgxpool.Pool, logger *slog.Logger, regs ...Registration) (*river.Client[pgx.Tx], error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	workers := river.NewWorkers()
	queues := map[string]river.QueueConfig{}
	var periodic []*river.PeriodicJob
	for _, r := range regs {
		periodic = append(periodic, r.Periodic...)
		if err := r.Add(workers); err != nil {
			return nil, fmt.Errorf("background jobs: %s: %w", r.Name, err)
		}
		for name, q := range r.Queues {
			if _, taken := queues[name]; taken {
				return nil, fmt.Errorf("background jobs: %s: queue %q is registered twice", r.Name, name)
			}
			queues[name] = q
		}
	}
	if len(queues) == 0 {
		return nil, fmt.Errorf("background jobs: no queues registered")
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Queues: queues, Workers: workers, Logger: logger, PeriodicJobs: periodic})
	if err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	return client, nil
}
