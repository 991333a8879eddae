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
