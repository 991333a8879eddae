package leaderboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mentor-ai/mentor/jobs"
)

// RefreshQueue is the queue of board refreshes.
const RefreshQueue = "leaderboard"

// InlineJudgments is how many judgments a project may have for its board to be fitted
// inside the request. The bootstrap's cost grows with the pairs of entries compared, not with
// the votes (BenchmarkRefresh: 50 entries, 1,000 rounds, about 9 s on the shared development
// machine); reading and tallying grow with the judgments. 20,000 is a judgment, not a
// measurement: a few versions of a persona fit quickly, and bigger boards go to the job.
const InlineJudgments = 20000

// Key is the options in canonical form, the cache's key.
func (o Options) Key() string {
	v := url.Values{}
	v.Set("by", o.By)
	v.Set("dimension", o.Dimension)
	v.Set("persona", o.Persona)
	v.Set("counted", o.Counted)
	v.Set("source", o.Source)
	v.Set("style", o.Style)
	v.Set("rounds", strconv.Itoa(o.Rounds))
	v.Set("seed", strconv.FormatUint(o.Seed, 10))
	return v.Encode()
}

// RefreshArgs is the job that fits one board and caches it.
type RefreshArgs struct {
	ProjectID int64   `json:"project_id"`
	Options   Options `json:"options"`
}

// Kind implements river.JobArgs.
func (RefreshArgs) Kind() string { return "leaderboard_refresh" }

// InsertOpts keeps one pending refresh per board: asking again while one waits adds nothing.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RefreshQueue, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// RefreshWorker fits a board in the background and caches it.
type RefreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	store *Store
}

// NewRefreshWorker returns the refresh worker of store.
func NewRefreshWorker(store *Store) *RefreshWorker { return &RefreshWorker{store: store} }

// Timeout allows the largest board (a million votes) several times over.
func (w *RefreshWorker) Timeout(*river.Job[RefreshArgs]) time.Duration { return 5 * time.Minute }

// Work implements river.Worker.
func (w *RefreshWorker) Work(ctx context.Context, job *river.Job[RefreshArgs]) error {
	_, err := w.store.refresh(ctx, job.Args.ProjectID, job.Args.Options)
	return err
}

// Jobs is the leaderboard package's share of the job runner: one refresh at a time, since
// a refresh already uses every core for its bootstrap.
func Jobs(w *RefreshWorker) jobs.Registration {
	return jobs.Registration{
		Name:   "leaderboard refresh",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{RefreshQueue: {MaxWorkers: 1}},
	}
}

// sourceMark is the present state of the project's votes: a board fitted at another mark is
// stale. It counts judgments and takes the newest judgment and the newest QC change, so a
// new judgment, a new revision or a review all change it.
func (s *Store) sourceMark(ctx context.Context, projectID int64) (mark string, judgments int, err error) {
	var last int64
	var checked *time.Time
	err = s.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(j.id), 0), max(jc.updated_at)
		FROM judgments j
		JOIN turns t ON t.id = j.turn_id
		JOIN conversations c ON c.id = t.conversation_id
		LEFT JOIN judgment_checks jc ON jc.judgment_id = j.id
		WHERE c.project_id = $1`, projectID).Scan(&judgments, &last, &checked)
	if err != nil {
		return "", 0, fmt.Errorf("leaderboard: the votes' state in project %d: %w", projectID, err)
	}
	mark = fmt.Sprintf("%d/%d", judgments, last)
	if checked != nil {
		mark += "/" + checked.UTC().Format(time.RFC3339Nano)
	}
	return mark, judgments, nil
}

// cached returns the cached board of o and the mark it was fitted at, or ok false.
func (s *Store) cached(ctx context.Context, projectID int64, o Options) (b Board, mark string, at time.Time, ok bool, err error) {
	var raw []byte
	err = s.pool.QueryRow(ctx, `SELECT board, source_mark, refreshed_at FROM leaderboard_boards WHERE project_id = $1 AND options_key = $2`,
		projectID, o.Key()).Scan(&raw, &mark, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, "", at, false, nil
	}
	if err != nil {
		return b, "", at, false, fmt.Errorf("leaderboard: cached board: %w", err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, "", at, false, fmt.Errorf("leaderboard: cached board: %w", err)
	}
	return b, mark, at, true, nil
}

// refresh fits the board of o from the votes as they are now and caches it.
func (s *Store) refresh(ctx context.Context, projectID int64, o Options) (Board, error) {
	o.defaults()
	mark, _, err := s.sourceMark(ctx, projectID)
	if err != nil {
		return Board{}, err
	}
	l, err := s.load(ctx, projectID, o, false)
	if err != nil {
		return Board{}, err
	}
	b, _, err := compute(l.entries, l.votes, l.judgments, o)
	if err != nil {
		return Board{}, err
	}
	now := s.now()
	b.RefreshedAt = &now
	raw, err := json.Marshal(b)
	if err != nil {
		return Board{}, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO leaderboard_boards (project_id, options_key, source_mark, board, refreshed_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (project_id, options_key) DO UPDATE SET source_mark = $3, board = $4, refreshed_at = $5`,
		projectID, o.Key(), mark, raw, now); err != nil {
		return Board{}, fmt.Errorf("leaderboard: cache board: %w", err)
	}
	return b, nil
}

// enqueue asks the refresh job to fit the board of o.
func (s *Store) enqueue(ctx context.Context, projectID int64, o Options) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.queue.InsertTx(ctx, tx, RefreshArgs{ProjectID: projectID, Options: o}, nil); err != nil {
			return fmt.Errorf("leaderboard: queue a refresh: %w", err)
		}
		return nil
	})
}

// Refresh fits the board of o now, whatever the cache holds, and caches it: the command
// line's way, where a person waits for the answer.
func (s *Store) Refresh(ctx context.Context, projectID int64, o Options) (Board, error) {
	o.defaults()
	if _, err := s.check(ctx, projectID, o); err != nil {
		return Board{}, err
	}
	return s.refresh(ctx, projectID, o)
}
