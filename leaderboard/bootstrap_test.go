package leaderboard_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
)

func width(t *testing.T, m leaderboard.Matrix, rounds int, seed uint64) []float64 {
	t.Helper()
	members := make([]int, m.N)
	for i := range members {
		members[i] = i
	}
	samples, err := leaderboard.Bootstrap(m, members, 0, rounds, seed, nil)
	require.NoError(t, err)
	out := make([]float64, m.N)
	for i := range members {
		col := make([]float64, 0, rounds)
		for _, s := range samples {
			col = append(col, s[i])
		}
		out[i] = leaderboard.Quantile(col, 0.975) - leaderboard.Quantile(col, 0.025)
	}
	return out
}

func TestBootstrapIsReproducibleForASeed(t *testing.T) {
	t.Parallel()
	m := simulate([]float64{0, 0.5, -0.4, 0.2}, 2000, 0.1, rand.New(rand.NewPCG(1, 2)))
	members := []int{0, 1, 2, 3}
	a, err := leaderboard.Bootstrap(m, members, 0, 200, 42, nil)
	require.NoError(t, err)
	b, err := leaderboard.Bootstrap(m, members, 0, 200, 42, nil)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same seed gives the same rounds, whatever the goroutines did")
	c, err := leaderboard.Bootstrap(m, members, 0, 200, 43, nil)
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed gives other rounds")
	for _, round := range a {
		assert.Zero(t, round[0], "the reference stays at 0 in every round")
	}
}

func TestBootstrapIntervalsNarrowAsVotesGrow(t *testing.T) {
	t.Parallel()
	truth := []float64{0, 0.5, -0.4, 0.2}
	small := width(t, simulate(truth, 400, 0.1, rand.New(rand.NewPCG(3, 3))), 300, 7)
	large := width(t, simulate(truth, 6400, 0.1, rand.New(rand.NewPCG(3, 3))), 300, 7)
	for i := 1; i < len(truth); i++ {
		// 16 times the votes: about a quarter of the width.
		assert.Less(t, large[i], small[i]/2, "entry %d: %v then %v", i, small[i], large[i])
	}
}

func TestBoardRanksAndSaysWhatItCannot(t *testing.T) {
	t.Parallel()
	entries := []leaderboard.EntryInfo{{Key: "a", Label: "a"}, {Key: "b", Label: "b"}, {Key: "c", Label: "c"}, {Key: "d", Label: "d"}}
	var votes []leaderboard.Vote
	for i := range 300 {
		votes = append(votes, leaderboard.Vote{A: "a", B: "b", Outcome: []int{1, 1, 1, -1, 0}[i%5]})
	}
	votes = append(votes, leaderboard.Vote{A: "c", B: "d", Outcome: 1}, leaderboard.Vote{A: "c", B: "c", Outcome: 1})
	b, err := leaderboard.Compute(entries, votes, 10, leaderboard.Options{Rounds: 100})
	require.NoError(t, err)
	assert.Equal(t, []string{leaderboard.NoticeDisconnected}, b.Notices)
	require.Len(t, b.Parts, 2)
	top := b.Parts[0]
	assert.Equal(t, "a", top.Entries[0].Key)
	assert.Equal(t, 1, top.Entries[0].Rank)
	assert.Equal(t, 2, top.Entries[1].Rank, "a's interval lies wholly above b's")
	assert.True(t, top.Entries[0].Preliminary, "300 votes are fewer than 400")
	assert.True(t, b.Parts[1].Smoothed, "c beat d in the one vote: no maximum-likelihood score")
	assert.Equal(t, 301, b.Votes, "a vote of an entry against itself says nothing")

	lonely, err := leaderboard.Compute(entries, nil, 0, leaderboard.Options{Rounds: 100})
	require.NoError(t, err)
	assert.Equal(t, []string{leaderboard.NoticeTooFewEntries}, lonely.Notices)
	assert.Empty(t, lonely.Parts, "no numbers the data cannot support")
}

func TestVotesOfARanking(t *testing.T) {
	t.Parallel()
	entry := map[int64]string{1: "x", 2: "y", 3: "z", 4: "x"}
	j := leaderboard.Judged{ID: 9, Trainer: 5, Ranking: [][]int64{{1}, {2, 3}, {4}},
		Scores: map[int64]map[string]float64{1: {"warmth": 0.5}, 2: {"warmth": 1}, 3: {"warmth": 0.5}}}
	assert.ElementsMatch(t, []leaderboard.Vote{
		{A: "x", B: "y", Outcome: 1, Trainer: 5, Judgment: 9}, {A: "x", B: "z", Outcome: 1, Trainer: 5, Judgment: 9},
		{A: "y", B: "z", Outcome: 0, Trainer: 5, Judgment: 9}, {A: "y", B: "x", Outcome: 1, Trainer: 5, Judgment: 9},
		{A: "z", B: "x", Outcome: 1, Trainer: 5, Judgment: 9},
	}, leaderboard.VotesOf(j, entry, ""), "C(4,2) = 6 pairs, less the one of x against x")
	assert.ElementsMatch(t, []leaderboard.Vote{
		{A: "x", B: "y", Outcome: -1, Trainer: 5, Judgment: 9}, {A: "x", B: "z", Outcome: 0, Trainer: 5, Judgment: 9},
		{A: "y", B: "z", Outcome: 1, Trainer: 5, Judgment: 9},
	}, leaderboard.VotesOf(j, entry, "warmth"), "candidate 4 has no warmth score")
}
