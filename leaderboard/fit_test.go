package leaderboard_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
)

// fromWins builds a matrix from a table wins[i][j] = times i beat j, and ties[i][j] (i < j).
func fromWins(wins [][]int, ties map[[2]int]int) leaderboard.Matrix {
	m := leaderboard.Matrix{N: len(wins)}
	for i := range wins {
		for j := i + 1; j < len(wins); j++ {
			t := leaderboard.Tally{I: i, J: j, WinsI: wins[i][j], WinsJ: wins[j][i], Ties: ties[[2]int{i, j}]}
			if t.N() > 0 {
				m.Tallies = append(m.Tallies, t)
			}
		}
	}
	return m
}

// TestFitMatchesAgresti fits the published example of A. Agresti, Categorical Data Analysis
// (2nd ed., Wiley 2002), §10.6.2 and Table 10.11: the 1987 American League East, each pair
// of teams playing 13 games. Agresti fits the Bradley–Terry model as a logit model with
// Baltimore's parameter set to 0 and reports β̂: Milwaukee 1.58, Detroit 1.44, Toronto
// 1.29, New York 1.25, Boston 1.11, Cleveland 0.68, Baltimore 0.
func TestFitMatchesAgresti(t *testing.T) {
	t.Parallel()
	teams := []string{"Milwaukee", "Detroit", "Toronto", "New York", "Boston", "Cleveland", "Baltimore"}
	wins := [][]int{ // row beat column
		{0, 7, 9, 7, 7, 9, 11},
		{6, 0, 7, 5, 11, 9, 9},
		{4, 6, 0, 7, 7, 8, 12},
		{6, 8, 6, 0, 6, 7, 10},
		{6, 2, 6, 7, 0, 7, 12},
		{4, 4, 5, 6, 6, 0, 6},
		{2, 4, 1, 3, 1, 7, 0},
	}
	want := []float64{1.58, 1.44, 1.29, 1.25, 1.11, 0.68, 0}
	m := fromWins(wins, nil)
	members := []int{0, 1, 2, 3, 4, 5, 6}
	require.True(t, leaderboard.StronglyConnected(m, members))
	theta, iters, err := leaderboard.Fit(m, members, 6, false, nil)
	require.NoError(t, err)
	t.Logf("converged in %d iterations", iters)
	for i, name := range teams {
		assert.InDelta(t, want[i], theta[i], 0.005, name)
	}
}

// TestTiesCountAsHalfWins: Arena's documented rule (and Mentor's) is that a tie is half a
// win for each side. A pair that tied twice must fit exactly like one win each way.
func TestTiesCountAsHalfWins(t *testing.T) {
	t.Parallel()
	withTies := leaderboard.Matrix{N: 3, Tallies: []leaderboard.Tally{
		{I: 0, J: 1, WinsI: 5, WinsJ: 2, Ties: 2},
		{I: 1, J: 2, WinsI: 4, WinsJ: 3, Ties: 4},
		{I: 0, J: 2, WinsI: 6, WinsJ: 1},
	}}
	asWins := leaderboard.Matrix{N: 3, Tallies: []leaderboard.Tally{
		{I: 0, J: 1, WinsI: 6, WinsJ: 3},
		{I: 1, J: 2, WinsI: 6, WinsJ: 5},
		{I: 0, J: 2, WinsI: 6, WinsJ: 1},
	}}
	a, _, err := leaderboard.Fit(withTies, []int{0, 1, 2}, 2, false, nil)
	require.NoError(t, err)
	b, _, err := leaderboard.Fit(asWins, []int{0, 1, 2}, 2, false, nil)
	require.NoError(t, err)
	assert.InDeltaSlice(t, b, a, 1e-7)
	// The fitted model's expected wins equal the observed ones (ties halved): the
	// likelihood equations, which hold only at the maximum.
	p01 := 1 / (1 + math.Exp(a[1]-a[0]))
	p02 := 1 / (1 + math.Exp(a[2]-a[0]))
	assert.InDelta(t, 6.0+6.0, 9*p01+7*p02, 1e-6, "entry 0's wins: 5 + 2/2 over 1, 6 over 2")
}

func TestComponentsAndStrongConnection(t *testing.T) {
	t.Parallel()
	m := leaderboard.Matrix{N: 5, Tallies: []leaderboard.Tally{
		{I: 0, J: 1, WinsI: 3, WinsJ: 1},
		{I: 3, J: 4, WinsI: 2},
	}}
	assert.Equal(t, [][]int{{0, 1}, {3, 4}}, leaderboard.Components(m), "entry 2 has no votes")
	assert.True(t, leaderboard.StronglyConnected(m, []int{0, 1}))
	assert.False(t, leaderboard.StronglyConnected(m, []int{3, 4}), "4 never beat 3")
	_, _, err := leaderboard.Fit(m, []int{3, 4}, 1, true, nil)
	assert.NoError(t, err, "the prior makes an unbeaten entry's score finite")
}

// simulate plays n votes between random pairs of entries with the given true strengths.
func simulate(theta []float64, n int, tieShare float64, rng *rand.Rand) leaderboard.Matrix {
	k := len(theta)
	index := map[[2]int]int{}
	m := leaderboard.Matrix{N: k}
	for range n {
		i, j := rng.IntN(k), rng.IntN(k-1)
		if j >= i {
			j++
		}
		if i > j {
			i, j = j, i
		}
		at, ok := index[[2]int{i, j}]
		if !ok {
			at = len(m.Tallies)
			index[[2]int{i, j}] = at
			m.Tallies = append(m.Tallies, leaderboard.Tally{I: i, J: j})
		}
		p := 1 / (1 + math.Exp(theta[j]-theta[i]))
		switch u := rng.Float64(); {
		case u < tieShare:
			m.Tallies[at].Ties++
		case u < tieShare+(1-tieShare)*p:
			m.Tallies[at].WinsI++
		default:
			m.Tallies[at].WinsJ++
		}
	}
	return m
}

// TestSimulatedCampaignRecoversOrder: votes drawn from known strengths give back their order.
func TestSimulatedCampaignRecoversOrder(t *testing.T) {
	t.Parallel()
	truth := []float64{0, 0.4, -0.3, 0.9, 0.2, -0.8}
	m := simulate(truth, 20000, 0.1, rand.New(rand.NewPCG(7, 7)))
	members := []int{0, 1, 2, 3, 4, 5}
	theta, _, err := leaderboard.Fit(m, members, 0, false, nil)
	require.NoError(t, err)
	for i := range truth {
		for j := range truth {
			if truth[i] > truth[j] {
				assert.Greater(t, theta[i], theta[j], "entry %d is truly stronger than %d", i, j)
			}
		}
		// Ties shrink differences a little (half a win each way); the order stays.
		assert.InDelta(t, truth[i]*0.9, theta[i], 0.12, "entry %d", i)
	}
}
