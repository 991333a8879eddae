// Package leaderboard turns trainers' judgments into leaderboards: pairwise votes from
// rankings and rubric scores, a Bradley–Terry fit with bootstrap intervals, version-against-
// version verdicts, and checks on the voters. The maths (this file, bootstrap.go) is pure Go
// over an aggregated win matrix; store.go reads the votes from PostgreSQL.
package leaderboard

import (
	"errors"
	"math"
)

// Tally is what the votes between two entries came to: I < J are indices into the entries
// of a Matrix. A tie counts as half a win for each side, as Chatbot Arena counts it.
type Tally struct {
	I, J         int
	WinsI, WinsJ int
	Ties         int
}

// N is the number of votes between the two entries.
func (t Tally) N() int { return t.WinsI + t.WinsJ + t.Ties }

// Matrix is the aggregated votes over N entries: one Tally per pair that was compared at
// least once. The bootstrap resamples these cells, never the rows they came from.
type Matrix struct {
	N       int
	Tallies []Tally
}

// Votes is how many votes involved entry i.
func (m Matrix) Votes(i int) int {
	n := 0
	for _, t := range m.Tallies {
		if t.I == i || t.J == i {
			n += t.N()
		}
	}
	return n
}

// Total is the number of votes in the matrix.
func (m Matrix) Total() int {
	n := 0
	for _, t := range m.Tallies {
		n += t.N()
	}
	return n
}

// Tolerance is where the fit stops: no log-strength moved more than this in the last
// iteration. 1e-9 is far below what the board prints (a 0.01 Elo point is 2.3e-5 in
// log-strength), and costs a few dozen iterations from a warm start.
const Tolerance = 1e-9

// maxIterations bounds a fit that does not converge. The iteration used (Newman 2023) needs
// tens to hundreds of iterations on real boards; hitting this bound is reported as an error.
const maxIterations = 20000

// ErrNoConvergence says the fit stopped at maxIterations without reaching Tolerance.
var ErrNoConvergence = errors.New("the Bradley–Terry fit did not converge")

// Fit returns the maximum-likelihood Bradley–Terry log-strengths of the entries listed in
// members (indices into m), with members[ref] fixed at 0: P(i beats j) = 1/(1+e^(θj−θi)).
// Ties count as half a win each. Entries outside members are ignored, and members must be
// one connected part of the comparison graph (Components).
//
// When prior is true, each entry also plays two fictitious games against an entry of
// strength 1, winning one and losing one (Newman 2023, §5): the estimate is then the
// maximum a posteriori one and exists even when an entry won or lost every comparison,
// where the maximum-likelihood estimate is infinite.
//
// start, if not nil, is a warm start (log-strengths of the same length as members).
//
// The iteration is Newman's (M. E. J. Newman, "Efficient computation of rankings from
// pairwise comparisons", JMLR 24, 2023, eq. 12 and 26): it has the same fixed point as
// Zermelo's and Hunter's MM iteration and converges much faster.
func Fit(m Matrix, members []int, ref int, prior bool, start []float64) ([]float64, int, error) {
	k := len(members)
	local := make(map[int]int, k)
	for li, gi := range members {
		local[gi] = li
	}
	// adj[i] lists i's opponents with i's wins and losses against each, ties as halves.
	type opponent struct {
		j         int
		won, lost float64
	}
	adj := make([][]opponent, k)
	for _, t := range m.Tallies {
		i, ok1 := local[t.I]
		j, ok2 := local[t.J]
		if !ok1 || !ok2 || t.N() == 0 {
			continue
		}
		half := float64(t.Ties) / 2
		wi, wj := float64(t.WinsI)+half, float64(t.WinsJ)+half
		adj[i] = append(adj[i], opponent{j, wi, wj})
		adj[j] = append(adj[j], opponent{i, wj, wi})
	}
	p := make([]float64, k)
	for i := range p {
		p[i] = 1
		if start != nil {
			p[i] = math.Exp(start[i])
		}
	}
	for it := 1; it <= maxIterations; it++ {
		moved := 0.0
		// Each strength is updated in place, the next one using it at once (as Newman
		// does): updating all from the old values can oscillate for ever, two entries
		// swapping the same pair of values.
		for i := range p {
			var num, den float64
			if prior {
				num, den = 1/(p[i]+1), 1/(p[i]+1)
			}
			for _, o := range adj[i] {
				s := p[i] + p[o.j]
				num += o.won * p[o.j] / s
				den += o.lost / s
			}
			next := p[i]
			if den > 0 {
				next = num / den
			}
			if next <= 0 || math.IsNaN(next) || math.IsInf(next, 0) {
				return nil, it, ErrNoConvergence
			}
			moved = max(moved, math.Abs(math.Log(next)-math.Log(p[i])))
			p[i] = next
		}
		if !prior {
			// Without the prior the likelihood is unchanged by scaling every strength, so
			// keep the geometric mean at 1 to stop the iterates drifting.
			var logSum float64
			for _, x := range p {
				logSum += math.Log(x)
			}
			g := math.Exp(logSum / float64(k))
			for i := range p {
				p[i] /= g
			}
		}
		if moved < Tolerance {
			theta := make([]float64, k)
			for i := range p {
				theta[i] = math.Log(p[i]) - math.Log(p[ref])
			}
			return theta, it, nil
		}
	}
	return nil, maxIterations, ErrNoConvergence
}

// Components splits the comparison graph into its connected parts: entries that were
// compared with each other, directly or through others. Scores from different parts are on
// unrelated scales and are never put side by side. Entries without any vote are left out.
// Parts are ordered by their smallest entry index.
func Components(m Matrix) [][]int {
	parent := make([]int, m.N)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	voted := make([]bool, m.N)
	for _, t := range m.Tallies {
		if t.N() == 0 {
			continue
		}
		voted[t.I], voted[t.J] = true, true
		a, b := find(t.I), find(t.J)
		if a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	index := map[int]int{}
	var out [][]int
	for i := range m.N {
		if !voted[i] {
			continue
		}
		r := find(i)
		if _, ok := index[r]; !ok {
			index[r] = len(out)
			out = append(out, nil)
		}
		out[index[r]] = append(out[index[r]], i)
	}
	return out
}

// StronglyConnected says whether the maximum-likelihood estimate exists for members: for
// every split of them into two groups, someone in each group beat (or tied) someone in the
// other (Hunter 2004, assumption 1). An entry that won every comparison breaks it.
func StronglyConnected(m Matrix, members []int) bool {
	if len(members) < 2 {
		return true
	}
	local := make(map[int]int, len(members))
	for li, gi := range members {
		local[gi] = li
	}
	out := make([][]int, len(members)) // i -> j: i won (or tied) at least once against j
	in := make([][]int, len(members))
	for _, t := range m.Tallies {
		i, ok1 := local[t.I]
		j, ok2 := local[t.J]
		if !ok1 || !ok2 {
			continue
		}
		if t.WinsI > 0 || t.Ties > 0 {
			out[i], in[j] = append(out[i], j), append(in[j], i)
		}
		if t.WinsJ > 0 || t.Ties > 0 {
			out[j], in[i] = append(out[j], i), append(in[i], j)
		}
	}
	reach := func(adj [][]int) bool {
		seen := make([]bool, len(adj))
		stack := []int{0}
		seen[0] = true
		n := 1
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, w := range adj[v] {
				if !seen[w] {
					seen[w] = true
					n++
					stack = append(stack, w)
				}
			}
		}
		return n == len(adj)
	}
	return reach(out) && reach(in)
}

// EloScale turns a log-strength difference into Elo-like points, as Chatbot Arena shows
// them: 400 points is a factor of ten in the odds of winning.
const EloScale = 400 / math.Ln10

// EloBase is the score of the reference entry.
const EloBase = 1000.0
