package retrieval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mentor-ai/mentor/jobs"
)

// VectorIndexQueue is the River queue the vector index checks run on, one at a time: a
// rebuild takes a core for minutes, and two at once would only race.
const VectorIndexQueue = "vector_index"

// VectorIndexEvery is how often every vector index is checked. Ingest adds to a graph as
// it goes, and a check costs 200 exact searches (55 s of one backend at 100k chunks on the
// 2-core machine of docs/benchmarks.md, about ten times that at 1M), so a few times a day
// finds a poor graph within hours of its making at under 1% of a core.
const VectorIndexEvery = 6 * time.Hour

// VectorIndexArgs is the periodic check's (empty) arguments.
type VectorIndexArgs struct{}

// Kind names the job in River.
func (VectorIndexArgs) Kind() string { return "vector_index_check" }

// InsertOpts puts the job on its queue, once: a retry would rebuild a poor index as many times
// again, and the next period's job does the same work anyway. While one is waiting or
// running, another is not inserted (each leader election inserts one at start).
func (VectorIndexArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: VectorIndexQueue, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// VectorIndexWorker checks, and where needed rebuilds, every vector index.
type VectorIndexWorker struct {
	river.WorkerDefaults[VectorIndexArgs]
	store *Store
}

// NewVectorIndexWorker returns the periodic check's worker.
func NewVectorIndexWorker(store *Store) *VectorIndexWorker { return &VectorIndexWorker{store: store} }

// Timeout allows for rebuilds: at 100k chunks one takes about a minute on two cores, and at
// 1M far longer, up to DefaultVectorIndexPolicy.Rebuilds of them in a row.
func (w *VectorIndexWorker) Timeout(*river.Job[VectorIndexArgs]) time.Duration { return 3 * time.Hour }

// Work repairs each dimension's index in turn. One that cannot be repaired does not stop the
// others; the job fails afterwards, so River's log and the checks table both say which.
func (w *VectorIndexWorker) Work(ctx context.Context, _ *river.Job[VectorIndexArgs]) error {
	dims, err := w.store.VectorIndexDimensions(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, dim := range dims {
		r, err := w.store.RepairVectorIndex(ctx, dim, DefaultVectorIndexPolicy)
		if err == nil && !r.Healthy {
			err = fmt.Errorf("the %d-dimension vector index still has recall@10 %.3f after %d rebuilds",
				dim, r.Checks[len(r.Checks)-1].Recall, r.Rebuilds)
		}
		if err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// VectorIndexJobs is the vector index check's share of the job runner: its worker, its queue
// and the periodic job that runs it every period (VectorIndexEvery unless configured), and
// once at start, so a server started on a poor graph does not serve it for hours.
func VectorIndexJobs(w *VectorIndexWorker, every time.Duration) jobs.Registration {
	if every <= 0 {
		every = VectorIndexEvery
	}
	return jobs.Registration{
		Name:   "vector index check",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{VectorIndexQueue: {MaxWorkers: 1}},
		Periodic: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return VectorIndexArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	}
}
