package leaderboard

import (
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// DefaultRounds is how many bootstrap rounds a board takes unless asked otherwise.
const DefaultRounds = 1000

// Bootstrap refits members on rounds resamples of the votes and returns each round's
// log-strengths (rounds × len(members), members[ref] at 0 in every round).
//
// Each round draws as many votes as the data holds from the multinomial over the matrix's
// cells (pair × outcome: i won, j won, tie) with the observed shares as probabilities, one
// binomial per cell, so a round costs the number of cells, not the number of votes. Round r
// uses its own generator seeded from (seed, r): the result does not depend on how many
// goroutines share the work. A round whose resample leaves some entry unbeaten or unbeating
// is fitted with the prior (see Fit), as the full data would be.
func Bootstrap(m Matrix, members []int, ref int, rounds int, seed uint64, start []float64) ([][]float64, error) {
	in := map[int]bool{}
	for _, g := range members {
		in[g] = true
	}
	var cells []Tally
	total := 0
	for _, t := range m.Tallies {
		if in[t.I] && in[t.J] && t.N() > 0 {
			cells = append(cells, t)
			total += t.N()
		}
	}
	out := make([][]float64, rounds)
	if len(members) < 2 || total == 0 {
		return out, nil
	}
	workers := min(runtime.GOMAXPROCS(0), rounds)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sample := Matrix{N: m.N, Tallies: make([]Tally, len(cells))}
			for r := range next {
				rng := rand.New(rand.NewPCG(seed, uint64(r)))
				resample(cells, total, sample.Tallies, rng)
				prior := !StronglyConnected(sample, members)
				theta, _, err := Fit(sample, members, ref, prior, start)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				out[r] = theta
			}
		}()
	}
	for r := range rounds {
		next <- r
	}
	close(next)
	wg.Wait()
	return out, firstErr
}

// resample fills into with one multinomial draw of total votes over cells' outcomes.
func resample(cells []Tally, total int, into []Tally, rng *rand.Rand) {
	left, mass := total, float64(total)
	draw := func(count int) int {
		if left == 0 || count == 0 {
			return 0
		}
		if float64(count) >= mass {
			n := left
			left, mass = 0, 0
			return n
		}
		p := float64(count) / mass
		n := int(distuv.Binomial{N: float64(left), P: p, Src: rng}.Rand())
		left -= n
		mass -= float64(count)
		return n
	}
	for i, c := range cells {
		into[i] = Tally{I: c.I, J: c.J, WinsI: draw(c.WinsI), WinsJ: draw(c.WinsJ), Ties: draw(c.Ties)}
	}
}

// Quantile is the q-quantile (0..1) of xs by linear interpolation between order statistics
// (numpy's default, which Arena's notebook uses). xs is sorted in place.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	pos := q * float64(len(xs)-1)
	lo := int(pos)
	if lo >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	frac := pos - float64(lo)
	return xs[lo] + frac*(xs[lo+1]-xs[lo])
}
