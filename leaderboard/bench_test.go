package leaderboard_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
)

func benchSize(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, name)
		return n
	}
	return def
}

// BenchmarkRefresh is the refresh: 1,000,000 votes over 50 entries, aggregated into
// the win matrix, fitted, and bootstrapped 1,000 rounds (target ≤ 10 s). The votes are
// made before the timer starts; reading them from PostgreSQL is not part of this figure.
// MENTOR_BENCH_LEADERBOARD_VOTES, _ENTRIES and _ROUNDS make a smoke run small.
func BenchmarkRefresh(b *testing.B) {
	votes := benchSize(b, "MENTOR_BENCH_LEADERBOARD_VOTES", 1_000_000)
	n := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ENTRIES", 50)
	rounds := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ROUNDS", leaderboard.DefaultRounds)
	rng := rand.New(rand.NewPCG(1, 1))
	entries := make([]leaderboard.EntryInfo, n)
	truth := make([]float64, n)
	for i := range entries {
		entries[i] = leaderboard.EntryInfo{Key: fmt.Sprintf("e%02d", i), Label: fmt.Sprintf("e%02d", i)}
		truth[i] = rng.NormFloat64()
	}
	m := simulate(truth, votes, 0.1, rng)
	vs := make([]leaderboard.Vote, 0, votes)
	for _, t := range m.Tallies {
		for range t.WinsI {
			vs = append(vs, leaderboard.Vote{A: entries[t.I].Key, B: entries[t.J].Key, Outcome: 1})
		}
		for range t.WinsJ {
			vs = append(vs, leaderboard.Vote{A: entries[t.I].Key, B: entries[t.J].Key, Outcome: -1})
		}
		for range t.Ties {
			vs = append(vs, leaderboard.Vote{A: entries[t.I].Key, B: entries[t.J].Key})
		}
	}
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		board, err := leaderboard.Compute(entries, vs, votes, leaderboard.Options{Rounds: rounds})
		require.NoError(b, err)
		require.Len(b, board.Parts, 1)
		b.ReportMetric(time.Since(start).Seconds(), "refresh-s")
	}
}

// BenchmarkRefreshStyle is BenchmarkRefresh with style control: the same sizes, each vote
// carrying the style covariates of two simulated replies (weaker entries longer, a planted
// taste for length). Its cost is the (pair, binned covariates) cells, not the votes; the
// same MENTOR_BENCH_LEADERBOARD_* variables make a smoke run small.
func BenchmarkRefreshStyle(b *testing.B) {
	votes := benchSize(b, "MENTOR_BENCH_LEADERBOARD_VOTES", 1_000_000)
	n := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ENTRIES", 50)
	rounds := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ROUNDS", leaderboard.DefaultRounds)
	rng := rand.New(rand.NewPCG(2, 2))
	w := styleWorld{truth: make([]float64, n), verbose: make([]float64, n), beta: [leaderboard.Covariates]float64{1, 0.3}, ties: 0.1}
	for i := range n {
		w.truth[i] = rng.NormFloat64()
		w.verbose[i] = 300 + 1200*rng.Float64()
	}
	entries, vs := w.votes(votes, 3)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		board, err := leaderboard.Compute(entries, vs, votes, leaderboard.Options{Style: leaderboard.StyleControl, Rounds: rounds})
		require.NoError(b, err)
		require.Len(b, board.Parts, 1)
		b.ReportMetric(time.Since(start).Seconds(), "refresh-s")
	}
}
