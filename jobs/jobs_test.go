package jobs_test

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
)

type pingArgs struct{}

func (pingArgs) Kind() string { return "ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan struct{}
}

func (w *pingWorker) Work(context.Context, *river.Job[pingArgs]) error {
	close(w.done)
	return nil
}

func registration(name, queue string, w *pingWorker) jobs.Registration {
	return jobs.Registration{
		Name:   name,
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{queue: {MaxWorkers: 1}},
	}
}

// A job queued through the insert-only client inside a transaction is worked by the runner.
func TestInserterQueuesWhatTheRunnerWorks(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	w := &pingWorker{done: make(chan struct{})}
	runner, err := jobs.NewRunner(pool, nil, registration("ping", river.QueueDefault, w))
	require.NoError(t, err)
	require.NoError(t, runner.Start(ctx))
	t.Cleanup(func() { runner.Stop(context.Background()) })

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = queue.InsertTx(ctx, tx, pingArgs{}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	<-w.done
}

func TestRunnerRefusesBadRegistrations(t *testing.T) {
	pool := pgtest.Pool(t)
	tests := []struct {
		name string
		regs []jobs.Registration
		want string
	}{
		{"nothing to run", nil, "no queues registered"},
		{"a queue twice", []jobs.Registration{
			registration("first", "q", &pingWorker{}),
			{Name: "second", Add: func(*river.Workers) error { return nil }, Queues: map[string]river.QueueConfig{"q": {MaxWorkers: 1}}},
		}, `second: queue "q" is registered twice`},
		{"a worker twice", []jobs.Registration{
			registration("first", "a", &pingWorker{}),
			registration("second", "b", &pingWorker{}),
		}, "second:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jobs.NewRunner(pool, nil, tt.regs...)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
