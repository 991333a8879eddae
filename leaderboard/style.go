package leaderboard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Style control (Options.Style): whether a board adjusts for how long and how structured
// the replies were, as Chatbot Arena's style control does.
const (
	StyleNone    = "none"    // plain Bradley–Terry: a long, well-formatted reply's pull stays in the score
	StyleControl = "control" // length and markdown differences are covariates of the fit
)

// The covariates of a style-controlled fit, in the order of Vote.Style and Part.Style.
const (
	CovariateLength   = "length"   // reply length in characters
	CovariateMarkdown = "markdown" // markdown structure: headers, list items and bold spans
	Covariates        = 2
)

func covariateNames() [Covariates]string {
	return [Covariates]string{CovariateLength, CovariateMarkdown}
}

// StyleBin is the width the normalised differences are rounded to before votes are
// aggregated: votes of one pair whose rounded differences agree share a cell, so the fit
// and each bootstrap round cost the number of cells, not the number of votes. A difference
// is off by at most 0.05 of its range (−1..1), which moves a coefficient far less than its
// bootstrap interval is wide.
const StyleBin = 0.1

// Features are what style control reads from one reply (computed by the store's SQL).
type Features struct {
	Length  int // characters
	Headers int // lines starting with 1–6 '#' and a space
	Lists   int // lines starting with -, *, + or "1." / "1)" and a space
	Bold    int // **…** spans within one line
}

// StyleDiff is the covariates of a vote between replies a and b: for each, (a−b)/(a+b),
// 0 when both are 0. Normalising by the sum (as Arena does) makes a 900-against-300
// character pair weigh like 3-against-1 sentences, and keeps every covariate in −1..1.
func StyleDiff(a, b Features) [Covariates]float64 {
	norm := func(x, y int) float64 {
		if x+y == 0 {
			return 0
		}
		return float64(x-y) / float64(x+y)
	}
	return [Covariates]float64{norm(a.Length, b.Length), norm(a.Headers+a.Lists+a.Bold, b.Headers+b.Lists+b.Bold)}
}

// StyleMatrix is a Matrix whose cells are (pair, binned covariates): Tallies[c] are the
// votes of one pair whose covariates, I's reply against J's, round to X[c]. A pair may
// have several cells; Components, StronglyConnected and Votes read it as a Matrix.
type StyleMatrix struct {
	Matrix
	X [][Covariates]float64
}

// Coefficient is one covariate's fitted effect on a style-controlled board.
type Coefficient struct {
	Name  string  `json:"name"`  // length or markdown
	Value float64 `json:"value"` // log-odds of winning per unit of normalised difference
	Lower float64 `json:"lower"` // the 95% bootstrap interval's lower end
	Upper float64 `json:"upper"` // and its upper end
}

// tallyStyle aggregates votes into a StyleMatrix; votes are dropped as tally drops them.
func tallyStyle(votes []Vote, index map[string]int, n int) StyleMatrix {
	type key struct {
		i, j int
		x    [Covariates]int
	}
	cells := map[key]int{}
	m := StyleMatrix{Matrix: Matrix{N: n}}
	for _, v := range votes {
		a, ok1 := index[v.A]
		b, ok2 := index[v.B]
		if !ok1 || !ok2 || a == b {
			continue
		}
		outcome, x := v.Outcome, v.Style
		if a > b {
			a, b, outcome = b, a, -outcome
			for c := range x {
				x[c] = -x[c]
			}
		}
		k := key{i: a, j: b}
		for c := range x {
			k.x[c] = int(math.Round(x[c] / StyleBin))
		}
		at, ok := cells[k]
		if !ok {
			at = len(m.Tallies)
			cells[k] = at
			var bx [Covariates]float64
			for c := range bx {
				bx[c] = float64(k.x[c]) * StyleBin
			}
			m.Tallies = append(m.Tallies, Tally{I: a, J: b})
			m.X = append(m.X, bx)
		}
		switch t := &m.Tallies[at]; {
		case outcome > 0:
			t.WinsI++
		case outcome < 0:
			t.WinsJ++
		default:
			t.Ties++
		}
	}
	return m
}

// maxNewton bounds the Newton iterations of a style fit; each one at least halves the
// distance to the optimum once close, so tens mean something is wrong.
const maxNewton = 100

// fullStep is the largest parameter change a Newton step may make unchecked (FitStyle).
const fullStep = 0.25

// FitStyle is Fit with covariates: P(i beats j) = 1/(1+e^−(θi−θj+β·x)), x the cell's
// covariates (i's reply against j's). It returns the members' log-strengths (members[ref]
// at 0) and β, by Newton's method on the log-likelihood (concave, so Newton with step
// halving converges), stopping when no parameter moved more than Tolerance. Ties count as
// half a win each; prior adds Fit's two fictitious games per entry, against strength 1.
//
// start, if not nil, is a warm start: len(members) log-strengths, then the Covariates βs.
func FitStyle(m StyleMatrix, members []int, ref int, prior bool, start []float64) ([]float64, [Covariates]float64, int, error) {
	var beta [Covariates]float64
	k := len(members)
	local := make(map[int]int, k)
	for li, gi := range members {
		local[gi] = li
	}
	// cells are the member cells, in local indices, ties split into halves.
	type cell struct {
		i, j     int
		won, all float64
		x        [Covariates]float64
	}
	var cells []cell
	for c, t := range m.Tallies {
		i, ok1 := local[t.I]
		j, ok2 := local[t.J]
		if !ok1 || !ok2 || t.N() == 0 {
			continue
		}
		cells = append(cells, cell{i: i, j: j, won: float64(t.WinsI) + float64(t.Ties)/2, all: float64(t.N()), x: m.X[c]})
	}
	// Parameters: the k−1 free log-strengths (members[ref] is fixed at 0), then β.
	np := k - 1 + Covariates
	at := func(li int) int {
		if li > ref {
			return li - 1
		}
		return li // li == ref is never asked for
	}
	theta := make([]float64, k)
	if start != nil {
		copy(theta, start[:k])
		copy(beta[:], start[k:])
		base := theta[ref]
		for i := range theta {
			theta[i] -= base
		}
	}
	loglik := func(theta []float64, beta [Covariates]float64) float64 {
		ll := 0.0
		for _, c := range cells {
			eta := theta[c.i] - theta[c.j]
			for d := range beta {
				eta += beta[d] * c.x[d]
			}
			// log σ(η) = η − log(1+e^η) and log(1−σ(η)) = −log(1+e^η): one softplus.
			ll += c.won*eta - c.all*softplus(eta)
		}
		if prior {
			for _, t := range theta {
				ll += -softplus(-t) - softplus(t)
			}
		}
		return ll
	}
	grad := make([]float64, np)
	// h is the negative Hessian's upper triangle, row-major in a flat slice: the inner loop
	// below runs once per cell per iteration, and a method call per update (SymDense.SetSym)
	// cost several times the arithmetic. It is copied into hess once per iteration.
	h := make([]float64, np*np)
	hess := mat.NewSymDense(np, nil)
	step := mat.NewVecDense(np, nil)
	var chol mat.Cholesky
	ll := math.NaN() // evaluated only when a step is far enough to need checking
	idx := func(li int) int {
		if li == ref {
			return -1
		}
		return at(li)
	}
	// add puts w into the upper triangle at (a, b), parameter indices or −1 for the
	// fixed reference.
	add := func(a, b int, w float64) {
		if a < 0 || b < 0 {
			return
		}
		if a > b {
			a, b = b, a
		}
		h[a*np+b] += w
	}
	for it := 1; it <= maxNewton; it++ {
		clear(grad)
		clear(h)
		for _, c := range cells {
			eta := theta[c.i] - theta[c.j]
			for d := range beta {
				eta += beta[d] * c.x[d]
			}
			p := sigmoid(eta)
			r := c.won - c.all*p // this cell's share of the score
			w := c.all * p * (1 - p)
			pi, pj := idx(c.i), idx(c.j)
			if pi >= 0 {
				grad[pi] += r
			}
			if pj >= 0 {
				grad[pj] -= r
			}
			add(pi, pi, w)
			add(pj, pj, w)
			add(pi, pj, -w)
			for d := range beta {
				bd := k - 1 + d
				grad[bd] += r * c.x[d]
				if pi >= 0 {
					h[pi*np+bd] += w * c.x[d]
				}
				if pj >= 0 {
					h[pj*np+bd] -= w * c.x[d]
				}
				for e := d; e < Covariates; e++ {
					h[bd*np+k-1+e] += w * c.x[d] * c.x[e]
				}
			}
		}
		if prior {
			for li, t := range theta {
				if pi := idx(li); pi >= 0 {
					p := sigmoid(t)
					grad[pi] += 1 - 2*p
					h[pi*np+pi] += 2 * p * (1 - p)
				}
			}
		}
		for a := range np {
			for b := a; b < np; b++ {
				hess.SetSym(a, b, h[a*np+b])
			}
		}
		if !chol.Factorize(hess) {
			// A covariate that never varies (every pair's replies alike) leaves the
			// Hessian singular; a ridge far below any real curvature pins its β at 0.
			for a := range np {
				hess.SetSym(a, a, hess.At(a, a)+1e-9)
			}
			if !chol.Factorize(hess) {
				return nil, beta, it, fmt.Errorf("style fit: singular information matrix: %w", ErrNoConvergence)
			}
		}
		if err := chol.SolveVecTo(step, mat.NewVecDense(np, grad)); err != nil {
			return nil, beta, it, fmt.Errorf("style fit: %w", err)
		}
		// Halve the step until the likelihood does not fall: a full Newton step from far
		// away can overshoot where one entry won almost everything. Near the optimum
		// (every step below fullStep) the full step is taken unchecked: the likelihood is
		// then close to its quadratic model, and skipping its evaluation halves the cost
		// of a warm-started bootstrap round.
		far := false
		for a := range np {
			far = far || math.Abs(step.AtVec(a)) > fullStep
		}
		scale, nextTheta, nextBeta := 1.0, make([]float64, k), beta
		nextLL := math.NaN()
		for range 60 {
			for li := range theta {
				nextTheta[li] = theta[li]
				if pi := idx(li); pi >= 0 {
					nextTheta[li] += scale * step.AtVec(pi)
				}
			}
			for d := range beta {
				nextBeta[d] = beta[d] + scale*step.AtVec(k-1+d)
			}
			if !far {
				break
			}
			nextLL = loglik(nextTheta, nextBeta)
			if math.IsNaN(ll) {
				ll = loglik(theta, beta)
			}
			if nextLL >= ll-1e-12*math.Abs(ll) {
				break
			}
			scale /= 2
		}
		moved := 0.0
		for a := range np {
			moved = max(moved, math.Abs(scale*step.AtVec(a)))
		}
		if math.IsNaN(moved) || math.IsInf(moved, 0) {
			return nil, beta, it, ErrNoConvergence
		}
		theta, beta, ll = nextTheta, nextBeta, nextLL
		if moved < Tolerance {
			return theta, beta, it, nil
		}
	}
	return nil, beta, maxNewton, ErrNoConvergence
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1+e^x).
func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// BootstrapStyle is Bootstrap for a style-controlled fit: each round is one multinomial
// draw over the cells (pair × binned covariates × outcome), refitted by FitStyle from the
// warm start. It returns each round's log-strengths and βs; round r is seeded from
// (seed, r), so the result does not depend on the goroutines.
func BootstrapStyle(m StyleMatrix, members []int, ref int, rounds int, seed uint64, start []float64) ([][]float64, [][Covariates]float64, error) {
	in := map[int]bool{}
	for _, g := range members {
		in[g] = true
	}
	var (
		cells []Tally
		xs    [][Covariates]float64
	)
	total := 0
	for c, t := range m.Tallies {
		if in[t.I] && in[t.J] && t.N() > 0 {
			cells, xs = append(cells, t), append(xs, m.X[c])
			total += t.N()
		}
	}
	thetas, betas := make([][]float64, rounds), make([][Covariates]float64, rounds)
	if len(members) < 2 || total == 0 {
		return thetas, betas, nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range min(runtime.GOMAXPROCS(0), rounds) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sample := StyleMatrix{Matrix: Matrix{N: m.N, Tallies: make([]Tally, len(cells))}, X: xs}
			for r := range next {
				rng := rand.New(rand.NewPCG(seed, uint64(r)))
				resample(cells, total, sample.Tallies, rng)
				prior := !StronglyConnected(sample.Matrix, members)
				theta, beta, _, err := FitStyle(sample, members, ref, prior, start)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("round %d: %w", r, err))
					mu.Unlock()
					continue
				}
				thetas[r], betas[r] = theta, beta
			}
		}()
	}
	for r := range rounds {
		next <- r
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return thetas, betas, errs[0]
	}
	return thetas, betas, nil
}
