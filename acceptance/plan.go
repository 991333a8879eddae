// Package acceptance is the checking centre's acceptance sampling of a base's delivered
// batches (验收), by GB/T 2828.1 (ISO 2859-1): single sampling plans at general inspection
// level II, normal, tightened and reduced inspection, and the switching rules between them
// (docs/quality.md). plan.go holds the standard's tables; switching.go the switching rules
// between normal, tightened and reduced inspection; batch.go the batches themselves.
package acceptance

import (
	"fmt"
	"strconv"

	"github.com/mentor-ai/mentor/errs"
)

// Severity is how strictly a batch is inspected.
type Severity string

// The severities of GB/T 2828.1 (§9). Reduced inspection is used only where the campaign
// allows it (Settings.ReducedAllowed: the standard leaves it to the responsible authority).
const (
	Normal    Severity = "normal"
	Tightened Severity = "tightened"
	Reduced   Severity = "reduced"
	// Discontinued is never a batch's severity: it is the switching rules' state after 5
	// batches were rejected on tightened inspection (§9.4), in which no batch is inspected
	// until the inspection is resumed.
	Discontinued Severity = "discontinued"
)

// AQLs are the acceptance quality limits offered, in percent nonconforming: the standard's
// preferred series from 0.010 to 10. (Its columns above 10 are for nonconformities per 100
// items; a defect here is a rejected judgment, an item that is nonconforming or not.)
var AQLs = []string{"0.010", "0.015", "0.025", "0.040", "0.065", "0.10", "0.15", "0.25", "0.40", "0.65",
	"1.0", "1.5", "2.5", "4.0", "6.5", "10"}

// DefaultAQL is a campaign's AQL unless it sets one.
const DefaultAQL = "1.0"

// codeLetters are the standard's sample size code letters. S exists in Table 2-B only.
var codeLetters = []string{"A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S"}

// letterS is the index of code letter S.
const letterS = 16

// levelII is Table 1's column for general inspection level II: the largest lot size of each
// code letter from A (2 to 8) to P (150 001 to 500 000); larger lots are Q.
var levelII = []int{8, 15, 25, 50, 90, 150, 280, 500, 1200, 3200, 10000, 35000, 150000, 500000}

// CodeLetter is Table 1 at general inspection level II: the index of the lot's sample size
// code letter.
func codeLetter(lot int) int {
	for i, max := range levelII {
		if lot <= max {
			return i
		}
	}
	return len(levelII) // Q: 500 001 and over
}

// A cell of Tables 2-A, 2-B and 2-C is an Ac/Re pair or an arrow. The tables' pairs run
// along diagonals: one step down the code letters (a sample about 1.6 times larger) is worth
// one step up the AQL series (an AQL about 1.6 times larger), so a cell is fixed by the sum
// of the two indexes. A table's steps are its cells along one column from the 0/1 cell down.
type cell struct {
	ac, re int
	arrow  int // -1 ↑: use the first plan above; +1 ↓: the first plan below; 0: a plan
}

var (
	up   = cell{arrow: -1}
	down = cell{arrow: +1}
)

// table is one of the standard's single sampling tables.
type table struct {
	name string
	// sizes is each code letter's sample size: Table 2-C's are smaller than the others'.
	sizes []int
	steps []cell
	// zeroOne is the sum of code-letter and AQL indexes of the cells holding 0/1.
	zeroOne int
}

// The three tables, checked cell by cell against the published tables of GB/T 2828.1-2012
// (identical to ISO 2859-1:1999) in acceptance/plan_test.go.
//
// Each has two arrows between 0/1 and 1/2 (three in 2-C), not one 1/2 twice: an earlier
// transcription here put 1/2 where the standard prints ↓, which gave letter G at AQL 1.0 a
// sample of 32 where the standard asks for 50.
var tables = map[Severity]table{
	// Table 2-A (normal): 0/1, ↑, ↓, 1/2, 2/3, 3/4, 5/6, 7/8, 10/11, 14/15, 21/22, then ↑.
	// Letter E (13) holds 0/1 at AQL 1.0.
	Normal: {name: "2-A", sizes: []int{2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000},
		steps: []cell{{0, 1, 0}, up, down, {1, 2, 0}, {2, 3, 0}, {3, 4, 0}, {5, 6, 0}, {7, 8, 0}, {10, 11, 0}, {14, 15, 0}, {21, 22, 0}}, zeroOne: 14},
	// Table 2-B (tightened): 0/1, ↓, ↓, 1/2, 2/3, 3/4, 5/6, 8/9, 12/13, 18/19, then ↑. Letter
	// F (20) holds 0/1 at AQL 1.0. Its extra letter S (3150) holds one plan, 1/2 at AQL 0.025,
	// the one column whose arrows run down past R.
	Tightened: {name: "2-B", sizes: []int{2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000, 3150},
		steps: []cell{{0, 1, 0}, down, down, {1, 2, 0}, {2, 3, 0}, {3, 4, 0}, {5, 6, 0}, {8, 9, 0}, {12, 13, 0}, {18, 19, 0}}, zeroOne: 15},
	// Table 2-C (reduced), the 1999 edition's, without the old gap between Ac and Re: 0/1, ↑,
	// ↓, ↓, 1/2, 2/3, 3/4, 5/6, 6/7, 8/9, 10/11, then ↑. Letter E (5 on reduced inspection)
	// holds 0/1 at AQL 1.0.
	Reduced: {name: "2-C", sizes: []int{2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800},
		steps: []cell{{0, 1, 0}, up, down, down, {1, 2, 0}, {2, 3, 0}, {3, 4, 0}, {5, 6, 0}, {6, 7, 0}, {8, 9, 0}, {10, 11, 0}}, zeroOne: 14},
}

// aql0025 is the index of AQL 0.025, the only column in which Table 2-B's letter S has a plan.
const aql0025 = 2

// at is the table's cell at a letter and AQL index; plan is false for an arrow or a blank.
func (t table) at(letter, aql int) (c cell, plan bool) {
	if letter == letterS && aql != aql0025 {
		return cell{}, false // blank
	}
	step := letter + aql - t.zeroOne
	switch {
	case step < 0:
		return down, false
	case step >= len(t.steps):
		return up, false
	}
	c = t.steps[step]
	return c, c.arrow == 0
}

// resolve follows the arrow at a letter and AQL to the first plan in its direction (§10.2:
// "use the first sampling plan below/above the arrow"). At the table's edges the standard
// prints the arrow the other way (row A has nothing above it; in the small-AQL columns the
// last rows have nothing below them), so when the arrow's direction holds no plan, the other
// does.
func (t table) resolve(letter, aql int) (int, cell, error) {
	c, plan := t.at(letter, aql)
	if plan {
		return letter, c, nil
	}
	dir := c.arrow
	if dir == 0 {
		dir = -1 // a blank of row S: the plan is above
	}
	for _, d := range []int{dir, -dir} {
		for l := letter + d; l >= 0 && l < len(t.sizes); l += d {
			if c, plan := t.at(l, aql); plan {
				return l, c, nil
			}
		}
	}
	return 0, cell{}, fmt.Errorf("acceptance: table %s has no plan for letter %s at AQL %s", t.name, codeLetters[letter], AQLs[aql])
}

// Plan is what a batch of a given size is inspected by.
type Plan struct {
	LotSize    int      `json:"lot_size"`
	AQL        string   `json:"aql"`
	Severity   Severity `json:"severity"`
	CodeLetter string   `json:"code_letter"` // Table 1's letter for the lot, before any arrow
	// PlanLetter is the letter whose sample size and Ac/Re apply, after following the
	// table's arrows.
	PlanLetter string `json:"plan_letter"`
	SampleSize int    `json:"sample_size"` // n; the whole lot when the plan's n is not smaller
	Accept     int    `json:"ac"`          // accept the batch with at most this many defects
	Reject     int    `json:"re"`          // reject it with this many or more
	// FullInspection is true when the plan's sample is as large as the lot, so every item is
	// inspected (the standard's rule: when n ≥ N, inspect 100%).
	FullInspection bool `json:"full_inspection"`
}

// ParseAQL returns the index of aql in AQLs, or an error naming field.
func ParseAQL(field, aql string) (int, error) {
	for i, a := range AQLs {
		if a == aql {
			return i, nil
		}
	}
	// "1" for "1.0", "0.1" for "0.10": the same number is the same AQL.
	if v, err := strconv.ParseFloat(aql, 64); err == nil {
		for i, a := range AQLs {
			if w, _ := strconv.ParseFloat(a, 64); w == v {
				return i, nil
			}
		}
	}
	return 0, errs.Field(field, "%q is not an AQL of GB/T 2828.1's series; use one of %s", aql, fmt.Sprint(AQLs))
}

// PlanFor returns the single sampling plan at general inspection level II for a lot of
// lot items at aql, on normal, tightened or reduced inspection.
func PlanFor(lot int, aql string, s Severity) (Plan, error) {
	a, err := ParseAQL("aql", aql)
	if err != nil {
		return Plan{}, err
	}
	if lot < 1 {
		return Plan{}, errs.Field("lot_size", "a batch needs at least one judgment, got %d", lot)
	}
	t, ok := tables[s]
	if !ok {
		return Plan{}, errs.Field("severity", "%q is not normal, tightened or reduced", string(s))
	}
	start := codeLetter(lot)
	letter, c, err := t.resolve(start, a)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{LotSize: lot, AQL: AQLs[a], Severity: s, CodeLetter: codeLetters[start], PlanLetter: codeLetters[letter],
		SampleSize: t.sizes[letter], Accept: c.ac, Reject: c.re}
	if p.SampleSize >= lot {
		p.SampleSize, p.FullInspection = lot, true
	}
	return p, nil
}

// Verdict is the outcome of a batch's inspection.
type Verdict string

// The outcomes.
const (
	Pending  Verdict = "pending"  // more of the sample is to be inspected
	Accepted Verdict = "accepted" // at most Ac defects
	Rejected Verdict = "rejected" // Re or more defects
)

// Decide says what defects found in inspected of the sample's items mean. A batch is
// rejected as soon as Re defects are found, and accepted once the whole sample is inspected
// with at most Ac. On 100% inspection the same numbers apply to the whole lot.
func (p Plan) Decide(inspected, defects int) Verdict {
	switch {
	case defects >= p.Reject:
		return Rejected
	case inspected >= p.SampleSize:
		return Accepted
	}
	return Pending
}
