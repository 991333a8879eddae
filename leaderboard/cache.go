package leaderboard

import (
	"cmp"
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
// inside the request. The bootstrap's cost grows with the pairs of entries compared, and
// reading with the judgments: measured on the quiet development machine (docs/leaderboards.md,
// Benchmark), a project of 5,000 judgments (30,000 votes) refits in 0.25 s over 10 entries
// and 0.6 s over 50 (1.2 s with style control); one of 20,000 took 0.9 s to 2.3 s. Bigger
// projects go to the job, so nobody waits seconds for a board.
const InlineJudgments = 5000

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

// What a cached answer is (RefreshArgs.What). A board is the zero value, so a refresh
// queued before comparisons and the voter check were cached still reads as a board's.
const (
	WhatBoard   = ""        // a board (Board)
	WhatCompare = "compare" // version B of a persona against version A (Comparison)
	WhatVoters  = "voters"  // the voter check (VoterCheck)
)

// RefreshArgs is the job that fits one cached answer (a board, a comparison or the voter
// check) and caches it.
type RefreshArgs struct {
	ProjectID int64   `json:"project_id"`
	Options   Options `json:"options"`
	What      string  `json:"what,omitempty"`
	A         int     `json:"a,omitempty"` // a comparison's versions
	B         int     `json:"b,omitempty"`
}

// key is the answer's key in leaderboard_boards: a board's is its options' (as it was
// before comparisons were cached, so cached boards stay valid), the others' say what they
// are first.
func (a RefreshArgs) key() string {
	switch a.What {
	case WhatCompare:
		return fmt.Sprintf("what=compare&a=%d&b=%d&%s", a.A, a.B, a.Options.Key())
	case WhatVoters:
		return "what=voters&" + a.Options.Key()
	default:
		return a.Options.Key()
	}
}

// Kind implements river.JobArgs.
func (RefreshArgs) Kind() string { return "leaderboard_refresh" }

// InsertOpts keeps one pending refresh per board: asking again while one waits adds nothing.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RefreshQueue, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// RefreshWorker fits a cached answer in the background and caches it.
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
	_, err := w.store.refresh(ctx, job.Args)
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

// cached returns the cached answer under key and the mark it was fitted at, or ok false.
func (s *Store) cached(ctx context.Context, projectID int64, key string) (raw []byte, mark string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT board, source_mark FROM leaderboard_boards WHERE project_id = $1 AND options_key = $2`,
		projectID, key).Scan(&raw, &mark)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("leaderboard: cached answer: %w", err)
	}
	return raw, mark, true, nil
}

// refresh fits the answer of args from the votes as they are now and caches it. The mark
// is read before the votes: a vote that lands in between makes the answer look stale, and
// it is refitted once more, never the other way round.
func (s *Store) refresh(ctx context.Context, args RefreshArgs) ([]byte, error) {
	args.Options.defaults()
	mark, _, err := s.sourceMark(ctx, args.ProjectID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var v any
	switch args.What {
	case WhatCompare:
		c, err := s.fitCompare(ctx, args.ProjectID, args.Options, args.A, args.B)
		if err != nil {
			return nil, err
		}
		c.RefreshedAt = &now
		v = c
	case WhatVoters:
		vc, err := s.fitVoters(ctx, args.ProjectID, args.Options)
		if err != nil {
			return nil, err
		}
		vc.RefreshedAt = &now
		v = vc
	default:
		b, err := s.fitBoard(ctx, args.ProjectID, args.Options)
		if err != nil {
			return nil, err
		}
		b.RefreshedAt = &now
		v = b
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO leaderboard_boards (project_id, options_key, source_mark, board, refreshed_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (project_id, options_key) DO UPDATE SET source_mark = $3, board = $4, refreshed_at = $5`,
		args.ProjectID, args.key(), mark, raw, now); err != nil {
		return nil, fmt.Errorf("leaderboard: cache %s: %w", cmp.Or(args.What, "board"), err)
	}
	return raw, nil
}

// fitBoard fits the board of o from the votes as they are now, read one by one (load).
// Counting them per pair in PostgreSQL instead was measured slower at a million votes
// (11.9 s against 5.4 s; docs/leaderboards.md, Benchmark), and was removed.
func (s *Store) fitBoard(ctx context.Context, projectID int64, o Options) (Board, error) {
	l, err := s.load(ctx, projectID, o, false)
	if err != nil {
		return Board{}, err
	}
	b, _, err := compute(l.entries, l.votes, l.judgments, o)
	return b, err
}

// freshness is how current a cached answer is.
type freshness int

const (
	fresh      freshness = iota // fitted from the votes as they are now
	stale                       // fitted before the latest votes; a refresh is queued
	refreshing                  // never fitted yet; a refresh is queued
)

// answer decodes into out the answer of args: the cached one when the votes have not
// changed since it was fitted; else it is refitted, inside the request for a project of up
// to the store's inline judgments, or by the refresh job for a bigger one, meanwhile
// decoding the last answer (stale) or nothing (refreshing).
func (s *Store) answer(ctx context.Context, args RefreshArgs, out any) (freshness, error) {
	mark, judgments, err := s.sourceMark(ctx, args.ProjectID)
	if err != nil {
		return fresh, err
	}
	raw, cachedMark, ok, err := s.cached(ctx, args.ProjectID, args.key())
	if err != nil {
		return fresh, err
	}
	state := fresh
	switch {
	case ok && cachedMark == mark:
	case s.inline >= 0 && judgments <= s.inline:
		if raw, err = s.refresh(ctx, args); err != nil {
			return fresh, err
		}
	default:
		if err := s.enqueue(ctx, args); err != nil {
			return fresh, err
		}
		if !ok {
			return refreshing, nil
		}
		state = stale
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fresh, fmt.Errorf("leaderboard: cached %s: %w", cmp.Or(args.What, "board"), err)
	}
	return state, nil
}

// enqueue asks the refresh job to fit the answer of args.
func (s *Store) enqueue(ctx context.Context, args RefreshArgs) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.queue.InsertTx(ctx, tx, args, nil); err != nil {
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
	raw, err := s.refresh(ctx, RefreshArgs{ProjectID: projectID, Options: o})
	if err != nil {
		return Board{}, err
	}
	var b Board
	if err := json.Unmarshal(raw, &b); err != nil {
		return Board{}, fmt.Errorf("leaderboard: board: %w", err)
	}
	return b, nil
}
