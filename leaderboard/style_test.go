package leaderboard_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
)

func TestStyleDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a, b leaderboard.Features
		want [leaderboard.Covariates]float64
	}{
		{name: "both empty", want: [2]float64{0, 0}},
		{name: "three times as long", a: leaderboard.Features{Length: 900}, b: leaderboard.Features{Length: 300}, want: [2]float64{0.5, 0}},
		{name: "markdown sums headers, lists and bold", a: leaderboard.Features{Length: 10, Headers: 1, Lists: 2, Bold: 1},
			b: leaderboard.Features{Length: 30}, want: [2]float64{-0.5, 1}},
		{name: "antisymmetric", a: leaderboard.Features{Length: 30}, b: leaderboard.Features{Length: 10, Lists: 3, Bold: 1},
			want: [2]float64{0.5, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.InDeltaSlice(t, tc.want[:], func() []float64 { d := leaderboard.StyleDiff(tc.a, tc.b); return d[:] }(), 1e-12)
		})
	}
}

// TestFitStyleWithoutStyleIsFit: when no reply differs in style, the covariates say nothing
// and the style fit (Newton) must be the plain fit (Newman's iteration), its βs at 0.
func TestFitStyleWithoutStyleIsFit(t *testing.T) {
	t.Parallel()
	m := simulate([]float64{0, 0.4, 0.9, -0.3}, 2000, 0.1, rand.New(rand.NewPCG(7, 7)))
	members := []int{0, 1, 2, 3}
	plain, _, err := leaderboard.Fit(m, members, 0, false, nil)
	require.NoError(t, err)
	sm := leaderboard.StyleMatrix{Matrix: m, X: make([][leaderboard.Covariates]float64, len(m.Tallies))}
	theta, beta, iters, err := leaderboard.FitStyle(sm, members, 0, false, nil)
	require.NoError(t, err)
	t.Logf("Newton converged in %d iterations", iters)
	assert.InDeltaSlice(t, plain, theta, 1e-6)
	assert.InDeltaSlice(t, []float64{0, 0}, beta[:], 1e-6)
}

// styleWorld is a simulated campaign where the weaker entries write longer, more
// formatted replies and trainers favour length: plain Bradley–Terry is fooled, style
// control must not be.
type styleWorld struct {
	truth   []float64 // true log-strengths, entry i's
	verbose []float64 // entry i's typical reply length
	beta    [leaderboard.Covariates]float64
	// ties is the share of votes tied whatever the replies. Counted as half wins, ties
	// flatten the curve: a β is recovered as about (1−ties)·β, so β's test plants none.
	ties float64
}

func (w styleWorld) votes(n int, seed uint64) ([]leaderboard.EntryInfo, []leaderboard.Vote) {
	rng := rand.New(rand.NewPCG(seed, seed))
	entries := make([]leaderboard.EntryInfo, len(w.truth))
	for i := range entries {
		entries[i] = leaderboard.EntryInfo{Key: fmt.Sprintf("e%d", i), Label: fmt.Sprintf("e%d", i)}
	}
	reply := func(i int) leaderboard.Features {
		length := int(w.verbose[i] * math.Exp(0.5*rng.NormFloat64()))
		return leaderboard.Features{Length: max(length, 1), Headers: rng.IntN(2), Lists: rng.IntN(1 + int(w.verbose[i]/200)), Bold: rng.IntN(3)}
	}
	out := make([]leaderboard.Vote, 0, n)
	for range n {
		a, b := rng.IntN(len(w.truth)), rng.IntN(len(w.truth)-1)
		if b >= a {
			b++
		}
		x := leaderboard.StyleDiff(reply(a), reply(b))
		eta := w.truth[a] - w.truth[b]
		for d := range x {
			eta += w.beta[d] * x[d]
		}
		v := leaderboard.Vote{A: entries[a].Key, B: entries[b].Key, Style: x}
		switch u := rng.Float64(); {
		case u < w.ties:
		case u < w.ties+(1-w.ties)/(1+math.Exp(-eta)):
			v.Outcome = 1
		default:
			v.Outcome = -1
		}
		out = append(out, v)
	}
	return entries, out
}

func order(b leaderboard.Board) []string {
	var keys []string
	for _, e := range b.Parts[0].Entries {
		keys = append(keys, e.Key)
	}
	return keys
}

// TestStyleControlRecoversPlantedLengthBias: trainers are given a planted taste for
// length (β = 1.5 log-odds per unit of normalised difference) and none for markdown; the
// weaker entries write longer. The style-controlled board recovers β within its interval
// and orders the entries by their true strengths, where the plain board does not; and the
// same seed gives the same board.
func TestStyleControlRecoversPlantedLengthBias(t *testing.T) {
	t.Parallel()
	w := styleWorld{truth: []float64{0, 0.3, 0.6, 0.9, 1.2}, verbose: []float64{1600, 1100, 700, 450, 300},
		beta: [2]float64{1.5, 0}}
	entries, votes := w.votes(40000, 11)
	truth := []string{"e4", "e3", "e2", "e1", "e0"}

	plain, err := leaderboard.Compute(entries, votes, len(votes), leaderboard.Options{Rounds: 50})
	require.NoError(t, err)
	assert.False(t, plain.StyleControl)
	assert.Empty(t, plain.Parts[0].Style)
	assert.NotEqual(t, truth, order(plain), "the length bias must fool the plain board, or this test shows nothing")

	o := leaderboard.Options{Style: leaderboard.StyleControl, Rounds: 100, Seed: 5}
	styled, err := leaderboard.Compute(entries, votes, len(votes), o)
	require.NoError(t, err)
	assert.True(t, styled.StyleControl)
	require.Len(t, styled.Parts, 1)
	assert.Equal(t, truth, order(styled), "style control orders by true strength")
	require.Len(t, styled.Parts[0].Style, leaderboard.Covariates)
	length, markdown := styled.Parts[0].Style[0], styled.Parts[0].Style[1]
	t.Logf("plain order %v; coefficients %+v", order(plain), styled.Parts[0].Style)
	assert.Equal(t, leaderboard.CovariateLength, length.Name)
	assert.InDelta(t, 1.5, length.Value, 0.1, "%+v", length)
	assert.Less(t, length.Lower, 1.5, "the interval covers the planted β: %+v", length)
	assert.Greater(t, length.Upper, 1.5, "the interval covers the planted β: %+v", length)
	assert.Greater(t, length.Lower, 1.0, "the interval is well away from no effect: %+v", length)
	assert.Equal(t, leaderboard.CovariateMarkdown, markdown.Name)
	assert.InDelta(t, 0, markdown.Value, 0.25, "no markdown taste was planted: %+v", markdown)
	// Strengths on the Elo-like scale: e4 is 1.2 log-odds above e0.
	byKey := map[string]leaderboard.Entry{}
	for _, e := range styled.Parts[0].Entries {
		byKey[e.Key] = e
	}
	assert.InDelta(t, 1.2*leaderboard.EloScale, byKey["e4"].Score-byKey["e0"].Score, 0.2*leaderboard.EloScale)

	again, err := leaderboard.Compute(entries, votes, len(votes), o)
	require.NoError(t, err)
	assert.Equal(t, styled, again, "reproducible for a seed")
}
