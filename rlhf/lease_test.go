package rlhf_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestStatusesMatchTheSchema: the Go names and the table's CHECK are one set of statuses.
func TestStatusesMatchTheSchema(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	var def string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'candidates'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%status = ANY%'`).Scan(&def))
	var inSchema []string
	for _, m := range regexp.MustCompile(`'(\w+)'`).FindAllStringSubmatch(def, -1) {
		inSchema = append(inSchema, m[1])
	}
	var inGo []string
	for _, s := range rlhf.Statuses {
		inGo = append(inGo, string(s))
	}
	slices.Sort(inSchema)
	slices.Sort(inGo)
	assert.Equal(t, inSchema, inGo, def)
	for _, s := range rlhf.FinishedStatuses {
		assert.True(t, s.Finished(), s)
	}
	assert.False(t, rlhf.StatusStreaming.Finished())
}

type leaseRow struct {
	status  rlhf.Status
	owner   string
	until   *time.Time
	content string
}

func readLease(t *testing.T, pool *pgxpool.Pool, id int64) leaseRow {
	t.Helper()
	var r leaseRow
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT c.status, coalesce(c.owner, ''), c.lease_until, m.content
		FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.id = $1`, id).Scan(&r.status, &r.owner, &r.until, &r.content))
	return r
}

// TestLeases drives one candidate's lease with an injected clock (t0 and offsets from it)
// standing in for the database's: who may save it, when a sweep takes it, and that a row given
// up is never written again.
func TestLeases(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type claim struct {
		owner string
		until int // seconds after t0
	}
	a := func(until int) claim { return claim{"replica-a", until} }
	b := func(until int) claim { return claim{"replica-b", until} }
	ctx := context.Background()
	// Each step runs at its own second on the store's clock.
	type step func(t *testing.T, s *rlhf.Store, clock *time.Time, pool *pgxpool.Pool, c rlhf.Candidate)
	flush := func(l claim, now int, text string, wantKept bool) step {
		return func(t *testing.T, s *rlhf.Store, clock *time.Time, _ *pgxpool.Pool, c rlhf.Candidate) {
			*clock = at(now)
			lease := rlhf.Lease{Owner: l.owner, For: at(l.until).Sub(at(now))}
			kept, err := s.Flush(ctx, lease, []rlhf.Snapshot{{ID: c.ID, Content: text, Dirty: text != ""}})
			require.NoError(t, err)
			assert.Equal(t, wantKept, slices.Contains(kept, c.ID), "flush by %s at +%ds", l.owner, now)
		}
	}
	sweep := func(now int, want int64) step {
		return func(t *testing.T, s *rlhf.Store, clock *time.Time, _ *pgxpool.Pool, _ rlhf.Candidate) {
			*clock = at(now)
			n, err := s.Sweep(ctx)
			require.NoError(t, err)
			assert.Equal(t, want, n, "sweep at +%ds", now)
		}
	}
	finish := func(owner string, wantErr error) step {
		return func(t *testing.T, s *rlhf.Store, _ *time.Time, _ *pgxpool.Pool, c rlhf.Candidate) {
			c.Owner, c.Content, c.Status, c.FinishReason = owner, "完整的回复", rlhf.StatusComplete, "stop"
			err := s.Finish(ctx, c)
			if wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, wantErr)
			}
		}
	}
	want := func(status rlhf.Status, content string, until *time.Time) step {
		return func(t *testing.T, _ *rlhf.Store, _ *time.Time, pool *pgxpool.Pool, c rlhf.Candidate) {
			r := readLease(t, pool, c.ID)
			assert.Equal(t, status, r.status)
			assert.Equal(t, content, r.content)
			if until == nil {
				assert.Nil(t, r.until)
			} else if assert.NotNil(t, r.until) {
				assert.True(t, until.Equal(*r.until), "lease until %s, want %s", r.until, until)
			}
		}
	}
	ptr := func(s int) *time.Time { u := at(s); return &u }
	tests := []struct {
		name  string
		steps []step
	}{
		{"the owner's save renews the lease and writes the text", []step{
			flush(a(16), 1, "部分", true), want(rlhf.StatusStreaming, "部分", ptr(16)),
			flush(a(17), 2, "", true), want(rlhf.StatusStreaming, "部分", ptr(17)), // a renewal alone keeps the text
		}},
		{"another replica's save writes nothing", []step{
			flush(b(16), 1, "别人的", false), want(rlhf.StatusStreaming, "", ptr(15)),
		}},
		{"a lease that ran out is never renewed", []step{
			flush(a(31), 16, "太晚", false), want(rlhf.StatusStreaming, "", ptr(15)),
		}},
		{"a sweep leaves a live lease alone", []step{
			flush(a(16), 1, "部分", true), sweep(15, 0), want(rlhf.StatusStreaming, "部分", ptr(16)),
		}},
		{"a sweep takes a lease that ran out, and its owner cannot write the row again", []step{
			flush(a(16), 1, "部分", true), sweep(17, 1), want(rlhf.StatusInterrupted, "部分", nil),
			flush(a(18), 17, "更多", false), finish("replica-a", rlhf.ErrNotOwner), want(rlhf.StatusInterrupted, "部分", nil),
		}},
		{"the owner finishes, even past its lease when nobody swept", []step{
			finish("replica-a", nil), want(rlhf.StatusComplete, "完整的回复", nil), sweep(100, 0),
		}},
		{"another replica cannot finish it", []step{
			finish("replica-b", rlhf.ErrNotOwner), want(rlhf.StatusStreaming, "", ptr(15)),
		}},
		{"a finished candidate is not finished twice", []step{
			finish("replica-a", nil), finish("replica-a", rlhf.ErrNotOwner),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			clock := at(0)
			s := rlhf.NewStore(pool, rlhf.WithClock(func() time.Time { return clock }))
			turn := newLeasedTurn(t, pool, 1, rlhf.Lease{Owner: "replica-a", For: 15 * time.Second}, rlhf.WithClock(func() time.Time { return at(0) }))
			for _, st := range tt.steps {
				st(t, s, &clock, pool, turn.Candidates[0])
			}
		})
	}
}

// TestLeasesRunOnTheDatabasesClock: without an injected clock, a lease is granted from the
// database's now() and checked against it, whatever the replica's clock says: a lease of an
// hour is live, one that ran out (backdated in the row) is swept.
func TestLeasesRunOnTheDatabasesClock(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	s := rlhf.NewStore(pool)
	turn := newLeasedTurn(t, pool, 2, rlhf.Lease{Owner: "replica-a", For: time.Hour})
	var granted time.Duration
	require.NoError(t, pool.QueryRow(ctx, `SELECT extract(epoch FROM lease_until - now())::float8 * 1e9 FROM candidates WHERE id = $1`,
		turn.Candidates[0].ID).Scan(&granted))
	assert.InDelta(t, float64(time.Hour), float64(granted), float64(time.Minute), "granted for an hour from the database's now")
	_, err := pool.Exec(ctx, `UPDATE candidates SET lease_until = now() - interval '1 second' WHERE id = $1`, turn.Candidates[1].ID)
	require.NoError(t, err)
	n, err := s.Sweep(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "only the lease that ran out by the database's clock")
	kept, err := s.Flush(ctx, rlhf.Lease{Owner: "replica-a", For: time.Hour}, []rlhf.Snapshot{{ID: turn.Candidates[0].ID}, {ID: turn.Candidates[1].ID}})
	require.NoError(t, err)
	assert.Equal(t, []int64{turn.Candidates[0].ID}, kept)
}

// TestRestartTakesTheLease: a regenerated candidate streams under the new replica's lease.
func TestRestartTakesTheLease(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := rlhf.NewStore(pool)
	ctx := context.Background()
	turn := newTurn(t, pool, 1)
	c := turn.Candidates[0]
	c.Status, c.Error = rlhf.StatusFailed, "boom"
	require.NoError(t, s.Finish(ctx, c))
	until := time.Date(2026, 12, 1, 10, 1, 0, 0, time.UTC)
	s = rlhf.NewStore(pool, rlhf.WithClock(func() time.Time { return until.Add(-time.Minute) }))
	require.NoError(t, s.Restart(ctx, c.ID, c.CandidateSpec, rlhf.Lease{Owner: "replica-b", For: time.Minute}))
	r := readLease(t, pool, c.ID)
	assert.Equal(t, rlhf.StatusStreaming, r.status)
	assert.Equal(t, "replica-b", r.owner)
	require.NotNil(t, r.until)
	assert.True(t, until.Equal(*r.until))
}

// TestAStreamNeedsALease: a streaming row without an owner and a lease could never be swept.
func TestAStreamNeedsALease(t *testing.T) {
	t.Parallel()
	s := rlhf.NewStore(pgtest.Pool(t))
	_, err := s.StartTurn(context.Background(), rlhf.NewTurn{Message: "问题"})
	assert.Equal(t, errs.Internal, errs.KindOf(err))
	_, err = s.Flush(context.Background(), rlhf.Lease{}, []rlhf.Snapshot{{ID: 1}})
	assert.Equal(t, errs.Internal, errs.KindOf(err))
}

// TestFlushSavesInChunksThatLeaveCommitsDurable: a save of many streams is a round trip per
// chunk of 32 (a final save waits for its row's chunk, not for every stream), each chunk its
// own transaction that does not wait for the WAL, and the connection it used commits durably
// afterwards: a judgment written on it next must not be the one a crash loses.
func TestFlushSavesInChunksThatLeaveCommitsDurable(t *testing.T) {
	t.Parallel()
	pool, rt := pgtest.CountingPool(t, 1)
	ctx := context.Background()
	lease := rlhf.Lease{Owner: "replica-a", For: time.Hour}
	var snaps []rlhf.Snapshot
	var want []int64
	for range 5 { // 40 streams: two chunks
		for _, c := range newLeasedTurn(t, pool, 8, lease).Candidates {
			snaps = append(snaps, rlhf.Snapshot{ID: c.ID, Content: "部分", Seq: 3, Dirty: true})
			want = append(want, c.ID)
		}
	}
	s := rlhf.NewStore(pool)
	_, err := s.Flush(ctx, lease, snaps[:1]) // warm: a statement's first run also prepares it
	require.NoError(t, err)
	before := rt.Count()
	kept, err := s.Flush(ctx, lease, snaps)
	require.NoError(t, err)
	assert.EqualValues(t, 2, rt.Count()-before, "one round trip per chunk of 32")
	slices.Sort(kept)
	assert.Equal(t, want, kept)
	for _, id := range []int64{want[0], want[len(want)-1]} {
		assert.Equal(t, "部分", readLease(t, pool, id).content)
	}
	for _, setting := range []struct{ name, want string }{{"synchronous_commit", "on"}, {"plan_cache_mode", "auto"}} {
		var got string
		require.NoError(t, pool.QueryRow(ctx, "SHOW "+setting.name).Scan(&got))
		assert.Equal(t, setting.want, got, "the save's %s ended with its transaction", setting.name)
	}
}

// TestLiveStatementsArePlannedOnce: a turn's start, the once-a-second save and the final
// save write rows named by their ids, and each connection plans them once, by their keys (issue 12:
// PostgreSQL planned them anew on every call, judging no generic plan cheaper than the
// custom ones; a cold relay round spent 0.21 s of its PostgreSQL time planning). The pool
// has one connection, so its prepared statements are every call's.
func TestLiveStatementsArePlannedOnce(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.CountingPool(t, 1)
	ctx := context.Background()
	lease := rlhf.Lease{Owner: "replica-a", For: time.Hour}
	s := rlhf.NewStore(pool)
	for range 7 {
		turn := newLeasedTurn(t, pool, 2, lease)
		a, b := turn.Candidates[0], turn.Candidates[1]
		_, err := s.Flush(ctx, lease, []rlhf.Snapshot{{ID: a.ID, Content: "部分", Seq: 2, Dirty: true}, {ID: b.ID}})
		require.NoError(t, err)
		a.Content, a.Status, a.Seq = "，完。", rlhf.StatusComplete, 3
		b.Content, b.Status, b.Seq = "完整", rlhf.StatusComplete, 1
		written, err := s.FinishAll(ctx, []rlhf.Final{{C: a, Base: rlhf.Saved{Seq: 2, ContentChars: 2}}, {C: b}})
		require.NoError(t, err)
		assert.Equal(t, []bool{true, true}, written)
		assert.Equal(t, "部分，完。", readLease(t, pool, a.ID).content)
	}
	for _, stmt := range []struct{ name, prefix string }{
		{"a turn's start", "WITH conv AS"},
		{"the once-a-second save", "WITH data AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[]"},
		{"the final save", "WITH data AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]"},
	} {
		pgtest.CheckPlannedOnce(t, pool, stmt.name, stmt.prefix, 7)
		// The plan was made while the tables held a few rows, and it lasts the connection's
		// life: it must still find rows by their keys when the tables hold millions. Made
		// with sequential scans allowed, the save's read every candidate and compared each
		// with every saved stream (db.GenericPlansSQL).
		assert.NotContains(t, pgtest.CachedGenericPlan(t, pool, stmt.prefix), "Seq Scan", "%s reads a table whole", stmt.name)
	}
}
