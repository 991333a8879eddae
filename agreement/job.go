package agreement

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/mentor-ai/mentor/jobs"
)

// RefreshQueue is the River queue agreement refreshes run on, one at a time.
const RefreshQueue = "agreement"

// Every is how often agreement is refreshed: the issue asks for at least every 60 s, and
// half that keeps a figure at most a minute old even when a refresh runs long.
const Every = 30 * time.Second

// RefreshArgs is the periodic job's (empty) arguments.
type RefreshArgs struct{}

// Kind names the job in River.
func (RefreshArgs) Kind() string { return "agreement_refresh" }

// InsertOpts puts the job on its queue. A failed refresh is not retried for long: the next
// period's job does the same work.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RefreshQueue, MaxAttempts: 3}
}

// RefreshWorker refreshes every campaign that has new judgments.
type RefreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	refresher *Refresher
}

// NewRefreshWorker returns the periodic refresh's worker.
func NewRefreshWorker(r *Refresher) *RefreshWorker { return &RefreshWorker{refresher: r} }

// Work runs one refresh of every campaign with new judgments.
func (w *RefreshWorker) Work(ctx context.Context, _ *river.Job[RefreshArgs]) error {
	return w.refresher.RefreshAll(ctx)
}

// Timeout bounds one refresh of everything: a refresh is meant to take a couple of seconds.
func (w *RefreshWorker) Timeout(*river.Job[RefreshArgs]) time.Duration { return 5 * time.Minute }

// Jobs is the agreement refresh's share of the job runner: its worker, its queue and the
// periodic job that runs it every period (Every unless configured), and once at start.
func Jobs(w *RefreshWorker, every time.Duration) jobs.Registration {
	if every <= 0 {
		every = Every
	}
	return jobs.Registration{
		Name:   "agreement refresh",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{RefreshQueue: {MaxWorkers: 1}},
		Periodic: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return RefreshArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	}
}
