package leaderboard

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
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

// StyleBin is the width of the bins the normalised differences are sorted into before
// votes are aggregated: votes of one pair whose differences fall in the same bins share a
// cell, whose covariates are their mean, so the fit and each bootstrap round cost the
// number of cells, not the number of votes. Replacing a vote's covariates by its cell's
// mean is Berkson error (the truth is the value used plus noise independent of it): it
// does not bias a linear model and, for a logistic one, shrinks β by a factor of about
// 1/√(1 + β²σ²/2.9) with σ ≤ StyleBin/√12 the spread within a bin, under 1% for β up to 2.
// BenchmarkRefreshStyle measures the cost; TestStyleControlRecoversPlantedLengthBias the
// accuracy.
const StyleBin = 0.5

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
	// Differing is how many votes had replies that differed on this covariate (counted by
	// cell: a cell whose mean difference is 0 counts as none). At 0 the replies never
	// differed, the data says nothing about it, and Value is the prior's 0.
	Differing int `json:"differing"`
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
			m.Tallies = append(m.Tallies, Tally{I: a, J: b})
			m.X = append(m.X, [Covariates]float64{})
		}
		for c := range x {
			m.X[at][c] += x[c] // summed here, divided into the cell's mean below
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
	bins := make([][Covariates]int, len(m.Tallies))
	for k, at := range cells {
		bins[at] = k.x
	}
	for c, t := range m.Tallies {
		for d := range m.X[c] {
			m.X[c][d] /= float64(t.N())
		}
	}
	sortStyleCells(&m, bins)
	return m
}

// sortStyleCells puts a style matrix's cells in a canonical order, by pair and then bins:
// the bootstrap draws its counts cell by cell, so the order is part of what a seed
// reproduces.
func sortStyleCells(m *StyleMatrix, bins [][Covariates]int) {
	order := make([]int, len(m.Tallies))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := m.Tallies[a], m.Tallies[b]
		return cmp.Or(cmp.Compare(ta.I, tb.I), cmp.Compare(ta.J, tb.J), cmp.Compare(bins[a][0], bins[b][0]), cmp.Compare(bins[a][1], bins[b][1]))
	})
	tallies, xs := make([]Tally, len(order)), make([][Covariates]float64, len(order))
	for i, o := range order {
		tallies[i], xs[i] = m.Tallies[o], m.X[o]
	}
	m.Tallies, m.X = tallies, xs
}

// maxNewton bounds the Newton iterations of a style fit; each one at least halves the
// distance to the optimum once close, so tens mean something is wrong.
const maxNewton = 100

// betaPriorSD is the spread of a weak normal prior (mean 0) on each β. Without it a data
// set where style decided every vote it could (the longer reply always won) has no
// maximum-likelihood β: it runs off to infinity, as an unbeaten entry's score does. Its
// pull is one vote's worth of information against the thousands a board's βs rest on:
// under 1% once a few hundred votes differ in style.
const betaPriorSD = 1.0

// fullStep is the largest parameter change a Newton step may make unchecked (FitStyle).
const fullStep = 0.25

// FitStyle is Fit with covariates: P(i beats j) = 1/(1+e^−(θi−θj+β·x)), x the cell's
// covariates (i's reply against j's). It returns the members' log-strengths (members[ref]
// at 0) and β, by Newton's method on the log-likelihood (concave, so Newton with step
// halving converges), stopping when no parameter moved more than Tolerance. Ties count as
// half a win each. prior adds two fictitious games per entry, one won and one lost, as Fit
// does, here against the reference's strength; each β always has the weak prior of
// betaPriorSD.
//
// start, if not nil, is a warm start: len(members) log-strengths, then the Covariates βs.
func FitStyle(m StyleMatrix, members []int, ref int, prior bool, start []float64) ([]float64, [Covariates]float64, int, error) {
	return fitStyle(m, members, ref, prior, start, Tolerance)
}

// bootstrapTolerance is where a bootstrap round's fit stops: 1e-6 in log-strength is 4e-4
// Elo points, below the 0.01 the board prints, and saves the last Newton iteration.
const bootstrapTolerance = 1e-6

// poisson draws from a Poisson distribution of mean mean by inversion, which costs one
// exponential and mean steps: the cells' counts are mostly small. Large means go to gonum.
func poisson(rng *rand.Rand, mean int) int {
	if mean == 0 {
		return 0
	}
	if mean >= 30 {
		return int(distuv.Poisson{Lambda: float64(mean), Src: rng}.Rand())
	}
	lambda := float64(mean)
	p := math.Exp(-lambda)
	f, u, k := p, rng.Float64(), 0
	for u > f && k < 1000 {
		k++
		p *= lambda / float64(k)
		f += p
	}
	return k
}

func fitStyle(m StyleMatrix, members []int, ref int, prior bool, start []float64, tol float64) ([]float64, [Covariates]float64, int, error) {
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
		for _, b := range beta {
			ll -= b * b / 2 / (betaPriorSD * betaPriorSD)
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
		for d, b := range beta {
			bd := k - 1 + d
			grad[bd] -= b / (betaPriorSD * betaPriorSD)
			h[bd*np+bd] += 1 / (betaPriorSD * betaPriorSD)
		}
		for a := range np {
			for b := a; b < np; b++ {
				hess.SetSym(a, b, h[a*np+b])
			}
		}
		// The information matrix is positive definite: the part is connected, which
		// pins the θs, and β's prior pins a covariate that never varies, or two that
		// always move together (replies long exactly when formatted), where the data
		// alone cannot tell the βs apart and the prior splits their sum.
		if !chol.Factorize(hess) {
			return nil, beta, it, fmt.Errorf("style fit: information matrix not positive definite: %w", ErrNoConvergence)
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
		if moved < tol {
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

// BootstrapStyle is Bootstrap for a style-controlled fit over the cells (pair × binned
// covariates × outcome), each round refitted by Newton from the warm start. It is the
// Poisson bootstrap (each count drawn from a Poisson with the observed count as its mean;
// J. A. Hanley and B. MacGibbon, "Creating non-parametric bootstrap samples using Poisson
// frequencies", Computer Methods and Programs in Biomedicine 83, 2006), not the
// multinomial one Bootstrap uses: a style matrix has tens of thousands of cells, and the
// multinomial's chain of binomial draws took half a round's time; with thousands of votes
// the two give the same intervals. It returns each round's log-strengths and βs; round r is seeded from
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
	// pairOf maps each cell to its pair, so that a round's check of strong connection reads
	// one tally per pair rather than every cell.
	pairIndex, pairOf := map[[2]int]int{}, make([]int, len(cells))
	var pairs []Tally
	for c, t := range cells {
		at, ok := pairIndex[[2]int{t.I, t.J}]
		if !ok {
			at = len(pairs)
			pairIndex[[2]int{t.I, t.J}] = at
			pairs = append(pairs, Tally{I: t.I, J: t.J})
		}
		pairOf[c] = at
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
			byPair := Matrix{N: m.N, Tallies: slices.Clone(pairs)}
			for r := range next {
				rng := rand.New(rand.NewPCG(seed, uint64(r)))
				for i := range byPair.Tallies {
					byPair.Tallies[i].WinsI, byPair.Tallies[i].WinsJ, byPair.Tallies[i].Ties = 0, 0, 0
				}
				for c, t := range cells {
					d := Tally{I: t.I, J: t.J, WinsI: poisson(rng, t.WinsI), WinsJ: poisson(rng, t.WinsJ), Ties: poisson(rng, t.Ties)}
					sample.Tallies[c] = d
					p := &byPair.Tallies[pairOf[c]]
					p.WinsI, p.WinsJ, p.Ties = p.WinsI+d.WinsI, p.WinsJ+d.WinsJ, p.Ties+d.Ties
				}
				prior := !StronglyConnected(byPair, members)
				theta, beta, _, err := fitStyle(sample, members, ref, prior, start, bootstrapTolerance)
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
