package leaderboard_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
)

// TestBigBoardsAreFittedInTheBackground: a board too big to fit in the request is queued
// once, answered meanwhile with the notice "refreshing", fitted by the refresh job and then
// served from the cache; new votes make the cached board stale and queue a refresh.
func TestBigBoardsAreFittedInTheBackground(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	pool := f.store.Pool()
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	store := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{Now: func() time.Time { return at }, InlineJudgments: -1})
	vs := f.versions["customs-helper"]
	seed := func(name string, seed uint64) {
		require.NoError(t, leaderboard.Seed(ctx, pool, leaderboard.SeedSpec{ProjectID: f.project.ID, PersonaID: f.personas["customs-helper"].ID,
			CreatedBy: f.trainers[0], Name: name, Versions: [2]leaderboard.SeedVersion{{ID: vs[0].ID, Model: vs[0].Model}, {ID: vs[1].ID, Model: vs[1].Model, Strength: 1}},
			Trainers: f.trainers, Items: 40, K: 2, Checked: true, Seed: seed}))
	}
	seed("first", 1)
	o := leaderboard.Options{Persona: "customs-helper", Rounds: 50}
	queued := func() []rivertype.JobRow {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id, args FROM river_job WHERE kind = 'leaderboard_refresh' AND state = 'available' ORDER BY id`)
		require.NoError(t, err)
		var out []rivertype.JobRow
		for rows.Next() {
			var j rivertype.JobRow
			require.NoError(t, rows.Scan(&j.ID, &j.EncodedArgs))
			out = append(out, j)
		}
		require.NoError(t, rows.Err())
		return out
	}
	work := func() {
		t.Helper()
		jobs := queued()
		require.Len(t, jobs, 1, "one refresh queued, however often the board was asked for")
		var args leaderboard.RefreshArgs
		require.NoError(t, json.Unmarshal(jobs[0].EncodedArgs, &args))
		require.NoError(t, leaderboard.NewRefreshWorker(store).Work(ctx, &river.Job[leaderboard.RefreshArgs]{JobRow: &jobs[0], Args: args}))
		_, err := pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, jobs[0].ID)
		require.NoError(t, err)
	}

	for range 2 {
		b, err := store.Board(ctx, f.project.ID, o)
		require.NoError(t, err)
		assert.Equal(t, []string{leaderboard.NoticeRefreshing}, b.Notices)
		assert.Empty(t, b.Parts, "nothing fitted yet: no numbers")
	}
	work()
	b, err := store.Board(ctx, f.project.ID, o)
	require.NoError(t, err)
	require.Len(t, b.Parts, 1)
	assert.Equal(t, 80, b.Judgments)
	require.NotNil(t, b.RefreshedAt)
	assert.True(t, at.Equal(*b.RefreshedAt))
	assert.False(t, b.Stale)
	assert.Empty(t, queued(), "a fresh cached board queues nothing")

	seed("second", 2)
	stale, err := store.Board(ctx, f.project.ID, o)
	require.NoError(t, err)
	assert.True(t, stale.Stale, "new votes: the cached board is stale")
	assert.Equal(t, 80, stale.Judgments, "and still the one fitted before")
	at = at.Add(time.Hour)
	work()
	fresh, err := store.Board(ctx, f.project.ID, o)
	require.NoError(t, err)
	assert.False(t, fresh.Stale)
	assert.Equal(t, 160, fresh.Judgments)
}

// TestComparisonsAndVoterChecksAreCached: a comparison (a board with its bootstrap per
// dimension) and the voter check are fitted once and then answered from the cache, until
// new votes come in; for a big project they are fitted by the refresh job, as boards are,
// and meanwhile say refreshing, then stale.
func TestComparisonsAndVoterChecksAreCached(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	pool := f.store.Pool()
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	vs := f.versions["customs-helper"]
	items := 0
	seed := func(name string, n int, seed uint64) {
		t.Helper()
		require.NoError(t, leaderboard.Seed(ctx, pool, leaderboard.SeedSpec{ProjectID: f.project.ID, PersonaID: f.personas["customs-helper"].ID,
			CreatedBy: f.trainers[0], Name: name, Versions: [2]leaderboard.SeedVersion{{ID: vs[0].ID, Model: vs[0].Model}, {ID: vs[1].ID, Model: vs[1].Model, Strength: 1}},
			Trainers: f.trainers, Items: n, K: 2, Checked: true, Seed: seed}))
		items += n
	}
	seed("first", 40, 1)
	o := leaderboard.Options{Rounds: 50}

	t.Run("inline", func(t *testing.T) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		store := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{Now: func() time.Time { return at }})
		first, err := store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, o)
		require.NoError(t, err)
		require.NotNil(t, first.RefreshedAt)
		assert.True(t, at.Equal(*first.RefreshedAt))
		assert.Equal(t, 80, first.Overall.Votes)
		voters, err := store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper"})
		require.NoError(t, err)
		require.NotNil(t, voters.RefreshedAt)
		require.Len(t, voters.Voters, 3)

		at = at.Add(time.Minute)
		again, err := store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, o)
		require.NoError(t, err)
		assert.True(t, first.RefreshedAt.Equal(*again.RefreshedAt), "the same votes: answered from the cache, not refitted")
		assert.Equal(t, first.Overall, again.Overall)
		assert.False(t, again.Stale)
		// The voter check does not depend on rounds or seed: one cached check serves all.
		other, err := store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Rounds: 200, Seed: 7})
		require.NoError(t, err)
		assert.True(t, voters.RefreshedAt.Equal(*other.RefreshedAt), "not refitted")

		seed("second", 10, 2)
		at = at.Add(time.Minute)
		fresh, err := store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, o)
		require.NoError(t, err)
		assert.True(t, at.Equal(*fresh.RefreshedAt), "new votes: refitted")
		assert.Equal(t, 2*items, fresh.Overall.Votes)
		freshVoters, err := store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper"})
		require.NoError(t, err)
		assert.True(t, at.Equal(*freshVoters.RefreshedAt), "new votes: the voter check is refitted too")
	})

	t.Run("in the background", func(t *testing.T) {
		at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		store := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{Now: func() time.Time { return at }, InlineJudgments: -1})
		bg := leaderboard.Options{Rounds: 60} // not the inline run's cache entries
		work := func() {
			t.Helper()
			rows, err := pool.Query(ctx, `SELECT id, args FROM river_job WHERE kind = 'leaderboard_refresh' AND state = 'available' ORDER BY id`)
			require.NoError(t, err)
			var queued []rivertype.JobRow
			for rows.Next() {
				var j rivertype.JobRow
				require.NoError(t, rows.Scan(&j.ID, &j.EncodedArgs))
				queued = append(queued, j)
			}
			require.NoError(t, rows.Err())
			require.Len(t, queued, 2, "one refresh for the comparison and one for the voter check, however often they were asked for")
			for _, j := range queued {
				var args leaderboard.RefreshArgs
				require.NoError(t, json.Unmarshal(j.EncodedArgs, &args))
				require.NoError(t, leaderboard.NewRefreshWorker(store).Work(ctx, &river.Job[leaderboard.RefreshArgs]{JobRow: &j, Args: args}))
				_, err := pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, j.ID)
				require.NoError(t, err)
			}
		}
		for range 2 {
			c, err := store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, bg)
			require.NoError(t, err)
			assert.Equal(t, []string{leaderboard.NoticeRefreshing}, c.Notices)
			assert.Equal(t, leaderboard.VerdictRefreshing, c.Overall.Verdict, "no numbers before the fit")
			assert.Nil(t, c.Overall.Diff)
			v, err := store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Source: leaderboard.SourceAll})
			require.NoError(t, err)
			assert.Equal(t, []string{leaderboard.NoticeRefreshing}, v.Notices)
			assert.Empty(t, v.Voters)
		}
		work()
		c, err := store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, bg)
		require.NoError(t, err)
		assert.Empty(t, c.Notices)
		assert.Equal(t, leaderboard.VerdictBetter, c.Overall.Verdict, "%+v", c.Overall)
		assert.True(t, at.Equal(*c.RefreshedAt))
		v, err := store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Source: leaderboard.SourceAll})
		require.NoError(t, err)
		assert.Len(t, v.Voters, 3)

		seed("third", 10, 3)
		c, err = store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, bg)
		require.NoError(t, err)
		assert.True(t, c.Stale, "new votes: the cached comparison is stale, and a refresh is queued")
		v, err = store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Source: leaderboard.SourceAll})
		require.NoError(t, err)
		assert.True(t, v.Stale)
		at = at.Add(time.Hour)
		work()
		c, err = store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, bg)
		require.NoError(t, err)
		assert.False(t, c.Stale)
		assert.True(t, at.Equal(*c.RefreshedAt))
		assert.Equal(t, 2*items, c.Overall.Votes)
	})
}
