package leaderboard_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
)

// TestBoardCountedInPostgreSQLMatchesVoteByVote holds the refresh's board, whose votes
// PostgreSQL counts per pair and style cell, to the board fitted from the same votes read
// one by one: the same entries, votes, win rates, ranks and matrix, and the same scores,
// intervals and style coefficients to the printed precision, for every kind of board,
// with and without style control, counting checked or all votes, blind or all sources.
// The votes: ranking judgments of four candidates with replies of varied length and
// markdown (the benchmark's seed), a blind pairwise campaign with ties, and some judgments
// rejected in review.
func TestBoardCountedInPostgreSQLMatchesVoteByVote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	project := seedBenchVotes(t, ctx, pool, 3000, 10)
	var trainers []int64
	rows, err := pool.Query(ctx, `SELECT id FROM users WHERE login LIKE 'bench-voter-%' ORDER BY id`)
	require.NoError(t, err)
	trainers, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	var persona int64
	var versions []struct {
		ID    int64
		Model string
	}
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM personas WHERE project_id = $1 AND slug = 'customs-helper'`, project).Scan(&persona))
	rows, err = pool.Query(ctx, `SELECT id, model FROM prompt_versions WHERE persona_id = $1 ORDER BY version`, persona)
	require.NoError(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		ID    int64
		Model string
	}])
	require.NoError(t, err)
	require.Len(t, versions, 2)
	require.NoError(t, leaderboard.Seed(ctx, pool, leaderboard.SeedSpec{ProjectID: project, PersonaID: persona, CreatedBy: trainers[0], Name: "ties",
		Versions: [2]leaderboard.SeedVersion{{ID: versions[0].ID, Model: versions[0].Model}, {ID: versions[1].ID, Model: versions[1].Model, Strength: 0.5}},
		Trainers: trainers, Items: 60, K: 2, TieShare: 0.3, Checked: true, Seed: 5}))
	// Every seventh judgment rejected in review: counted=checked leaves it out.
	_, err = pool.Exec(ctx, `UPDATE judgment_checks SET review_state = 'rejected' WHERE judgment_id % 7 = 0`)
	require.NoError(t, err)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	store := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{})

	for _, by := range []string{leaderboard.ByModel, leaderboard.ByVersion, leaderboard.ByModelVersion} {
		for _, style := range []string{leaderboard.StyleNone, leaderboard.StyleControl} {
			for _, counted := range []string{leaderboard.CountChecked, leaderboard.CountSubmitted} {
				o := leaderboard.Options{By: by, Style: style, Counted: counted, Rounds: 40, Seed: 3}
				if counted == leaderboard.CountSubmitted {
					o.Source = leaderboard.SourceAll
				}
				t.Run(fmt.Sprintf("%s/%s/%s", by, style, counted), func(t *testing.T) {
					got, err := store.Refresh(ctx, project, o)
					require.NoError(t, err)
					want, err := store.BoardVoteByVote(ctx, project, o)
					require.NoError(t, err)
					assert.Equal(t, want.Judgments, got.Judgments)
					assert.Equal(t, want.Votes, got.Votes)
					assert.Positive(t, got.Votes)
					assert.Equal(t, want.Notices, got.Notices)
					assert.Equal(t, want.Matrix, got.Matrix)
					require.Len(t, got.Unranked, len(want.Unranked))
					for i := range want.Unranked {
						assert.Equal(t, utc(want.Unranked[i]), utc(got.Unranked[i]))
					}
					require.Len(t, got.Parts, len(want.Parts))
					for p := range want.Parts {
						wp, gp := want.Parts[p], got.Parts[p]
						assert.Equal(t, wp.Votes, gp.Votes)
						assert.Equal(t, wp.Smoothed, gp.Smoothed)
						require.Len(t, gp.Entries, len(wp.Entries))
						for e := range wp.Entries {
							we, ge := wp.Entries[e], gp.Entries[e]
							assert.Equal(t, utc(we.EntryInfo), utc(ge.EntryInfo))
							assert.Equal(t, []any{we.Rank, we.Votes, we.WinRate, we.Preliminary, we.Reference}, []any{ge.Rank, ge.Votes, ge.WinRate, ge.Preliminary, ge.Reference}, we.Key)
							assert.InDelta(t, we.Score, ge.Score, 0.011, we.Key)
							assert.InDelta(t, we.Lower, ge.Lower, 0.011, we.Key)
							assert.InDelta(t, we.Upper, ge.Upper, 0.011, we.Key)
						}
						require.Len(t, gp.Style, len(wp.Style))
						if style == leaderboard.StyleControl && p == 0 && by != leaderboard.ByVersion { // the seed's replies vary (its candidates are of one version); the demo campaign's are alike
							require.Len(t, gp.Style, leaderboard.Covariates)
							assert.NotZero(t, gp.Style[0].Value, "the replies' lengths vary: a coefficient was fitted: %+v", gp.Style)
						}
						for c := range wp.Style {
							assert.Equal(t, []any{wp.Style[c].Name, wp.Style[c].Differing}, []any{gp.Style[c].Name, gp.Style[c].Differing})
							assert.InDelta(t, wp.Style[c].Value, gp.Style[c].Value, 0.00011)
							assert.InDelta(t, wp.Style[c].Lower, gp.Style[c].Lower, 0.00011)
							assert.InDelta(t, wp.Style[c].Upper, gp.Style[c].Upper, 0.00011)
						}
					}
				})
			}
		}
	}
}

// utc is e with its time in UTC, as a board decoded from the cache has it.
func utc(e leaderboard.EntryInfo) leaderboard.EntryInfo {
	if e.PublishedAt != nil {
		at := e.PublishedAt.UTC()
		e.PublishedAt = &at
	}
	return e
}
