// Package agreement measures how far trainers agree: Krippendorff's α at the level of
// measurement that fits each question, Kendall's W per item for rankings, and each trainer's
// agreement with the consensus of the others. The statistics are pure functions; the
// periodic refresh (refresh.go) reads a campaign's judgments and writes what they give.
package agreement

import (
	"cmp"
	"math"
	"slices"
)

// Level is a level of measurement: it decides how far apart two values are.
type Level int

// The levels α is computed at.
const (
	Nominal  Level = iota // values are names: equal or not (flags)
	Ordinal               // values are ordered, distances unknown (rubric scores, positions)
	Interval              // values are numbers: distance is their difference
)

// String names the level as the API and docs do.
func (l Level) String() string {
	switch l {
	case Nominal:
		return "nominal"
	case Ordinal:
		return "ordinal"
	}
	return "interval"
}

// Alpha is Krippendorff's α over units, each unit the values its coders gave it (missing
// values simply left out). Units with fewer than two values are not pairable and do not
// count, which is how α treats a value no other coder paired. ok is false when α is
// undefined: no pairable values, or no disagreement to expect (every value alike).
//
// It follows Krippendorff (2011), "Computing Krippendorff's alpha-reliability": a
// coincidence matrix o_ck, its marginals n_c, and α = 1 − (n−1)·Σo·δ² / Σn_c·n_k·δ².
func Alpha(level Level, units [][]float64) (alpha float64, pairable int, ok bool) {
	var c Coincidences
	for _, u := range units {
		c.Add(u)
	}
	return c.Alpha(level)
}

// Coincidences is α's coincidence matrix, built unit by unit: a campaign's refresh adds
// hundreds of thousands of units (every flag of every candidate of every item), and keeping
// them all to count afterwards cost more than the counting. Its zero value is empty.
type Coincidences struct {
	index    map[float64]int // value → its row, in the order values were first seen
	values   []float64
	o        []float64 // len(values)² cells, row-major
	pairable int
	counts   []float64 // per value, within the unit being added
	touched  []int
}

// row is v's row, growing the matrix when v is new.
func (c *Coincidences) row(v float64) int {
	if i, ok := c.index[v]; ok {
		return i
	}
	if c.index == nil {
		c.index = map[float64]int{}
	}
	n := len(c.values)
	grown := make([]float64, (n+1)*(n+1))
	for r := range n {
		copy(grown[r*(n+1):r*(n+1)+n], c.o[r*n:(r+1)*n])
	}
	c.o, c.values, c.counts = grown, append(c.values, v), append(c.counts, 0)
	c.index[v] = n
	return n
}

// Add counts one unit's values; a unit of fewer than two is not pairable and adds nothing.
// values is not kept.
func (c *Coincidences) Add(values []float64) {
	m := len(values)
	if m < 2 {
		return
	}
	c.pairable += m
	c.touched = c.touched[:0]
	for _, v := range values {
		i := c.row(v)
		if c.counts[i] == 0 {
			c.touched = append(c.touched, i)
		}
		c.counts[i]++
	}
	nv := len(c.values)
	w := 1 / float64(m-1)
	for _, a := range c.touched {
		for _, b := range c.touched {
			pairs := c.counts[a] * c.counts[b]
			if a == b {
				pairs = c.counts[a] * (c.counts[a] - 1)
			}
			c.o[a*nv+b] += pairs * w
		}
	}
	for _, a := range c.touched {
		c.counts[a] = 0
	}
}

// Alpha is α at level over the units added so far, with how many pairable values it rests on.
func (c *Coincidences) Alpha(level Level) (alpha float64, pairable int, ok bool) {
	nv := len(c.values)
	if nv == 0 {
		return 0, 0, false
	}
	// The ordinal metric needs the values in order: the matrix is read through order.
	order := make([]int, nv)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(c.values[a], c.values[b]) })
	values := make([]float64, nv)
	o := make([]float64, nv*nv)
	for r, a := range order {
		values[r] = c.values[a]
		for k, b := range order {
			o[r*nv+k] = c.o[a*nv+b]
		}
	}
	nc := make([]float64, nv)
	var n float64
	for a := range nv {
		for b := range nv {
			nc[a] += o[a*nv+b]
		}
		n += nc[a]
	}
	delta := distance(level, values, nc)
	var observed, expected float64
	for a := range nv {
		for b := range nv {
			d := delta(a, b)
			observed += o[a*nv+b] * d
			expected += nc[a] * nc[b] * d
		}
	}
	if expected == 0 || n <= 1 {
		return 0, c.pairable, false
	}
	return 1 - (n-1)*observed/expected, c.pairable, true
}

// distance returns the squared difference δ² of two values, by their index, at a level.
func distance(level Level, values, nc []float64) func(c, k int) float64 {
	switch level {
	case Nominal:
		return func(c, k int) float64 {
			if c == k {
				return 0
			}
			return 1
		}
	case Ordinal:
		// δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)²: how many values lie between the two.
		cum := make([]float64, len(nc)+1)
		for i, v := range nc {
			cum[i+1] = cum[i] + v
		}
		return func(c, k int) float64 {
			if c > k {
				c, k = k, c
			}
			d := cum[k+1] - cum[c] - (nc[c]+nc[k])/2
			return d * d
		}
	}
	return func(c, k int) float64 {
		d := values[c] - values[k]
		return d * d
	}
}

// KendallW is Kendall's coefficient of concordance for one item: each ranking gives every
// object a place (lower is better; tied objects share a place). Ties are corrected for:
// W = 12·S / (m²(n³−n) − m·ΣT), T = Σ(t³−t) over each ranking's tie groups, after the places
// are turned into mid-ranks. ok is false with fewer than two rankings or two objects, or
// when every ranking ties everything (nothing to agree on).
func KendallW(rankings [][]float64) (w float64, ok bool) {
	m := len(rankings)
	if m < 2 {
		return 0, false
	}
	n := len(rankings[0])
	if n < 2 {
		return 0, false
	}
	sums := make([]float64, n)
	var ties float64
	for _, r := range rankings {
		if len(r) != n {
			return 0, false
		}
		ranks, t := midRanks(r)
		ties += t
		for i, v := range ranks {
			sums[i] += v
		}
	}
	mean := float64(m) * float64(n+1) / 2
	var s float64
	for _, v := range sums {
		s += (v - mean) * (v - mean)
	}
	fm, fn := float64(m), float64(n)
	den := fm*fm*(fn*fn*fn-fn) - fm*ties
	if den <= 0 {
		return 0, false
	}
	return math.Min(1, math.Max(0, 12*s/den)), true
}

// midRanks turns places into ranks 1..n, tied places sharing their mean rank, and returns
// Σ(t³−t) over the tie groups.
func midRanks(places []float64) ([]float64, float64) {
	n := len(places)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case places[a] < places[b]:
			return -1
		case places[a] > places[b]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, n)
	var ties float64
	for i := 0; i < n; {
		j := i
		for j < n && places[order[j]] == places[order[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for g := i; g < j; g++ {
			ranks[order[g]] = mid
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	return ranks, ties
}

// Spearman is the rank correlation of two equally long score lists (mid-ranked), or ok false
// when either has no spread.
func Spearman(a, b []float64) (rho float64, ok bool) {
	if len(a) != len(b) || len(a) < 2 {
		return 0, false
	}
	ra, _ := midRanks(a)
	rb, _ := midRanks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var num, da, db float64
	for i := range ra {
		num += (ra[i] - ma) * (rb[i] - mb)
		da += (ra[i] - ma) * (ra[i] - ma)
		db += (rb[i] - mb) * (rb[i] - mb)
	}
	if da == 0 || db == 0 {
		return 0, false
	}
	return num / math.Sqrt(da*db), true
}
