package acceptance

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
)

// table2A and table2B are GB/T 2828.1's Tables 2-A (normal) and 2-B (tightened) for single
// sampling, written out cell by cell as printed: rows are code letters A to R, columns the
// AQLs 0.010 to 10. ↑ means the first plan above, ↓ the first below. The code keeps them as
// diagonals (plan.go); this is the grid it must reproduce.
var table2A = map[string]string{
	"A": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓",
	"B": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2",
	"C": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2",
	"D": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3",
	"E": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4",
	"F": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6",
	"G": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8",
	"H": "↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11",
	"J": "↓     ↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15",
	"K": "↓     ↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22",
	"L": "↓     ↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22 ↑",
	"M": "↓     ↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22 ↑     ↑",
	"N": "↓     ↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22 ↑     ↑     ↑",
	"P": "↓     0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22 ↑     ↑     ↑     ↑",
	"Q": "0/1   ↑     1/2   1/2   2/3   3/4   5/6   7/8   10/11 14/15 21/22 ↑     ↑     ↑     ↑     ↑",
}

var table2B = map[string]string{
	"A": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1",
	"B": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓",
	"C": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2",
	"D": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2",
	"E": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3",
	"F": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4",
	"G": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6",
	"H": "↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9",
	"J": "↓     ↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13",
	"K": "↓     ↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19",
	"L": "↓     ↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑",
	"M": "↓     ↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑     ↑",
	"N": "↓     ↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑     ↑     ↑",
	"P": "↓     ↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑     ↑     ↑     ↑",
	"Q": "↓     0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑     ↑     ↑     ↑     ↑",
	"R": "0/1   ↓     1/2   1/2   2/3   3/4   5/6   8/9   12/13 18/19 ↑     ↑     ↑     ↑     ↑     ↑",
}

// lotRanges is Table 1 at general inspection level II.
var lotRanges = []struct {
	min, max int
	letter   string
}{
	{2, 8, "A"}, {9, 15, "B"}, {16, 25, "C"}, {26, 50, "D"}, {51, 90, "E"}, {91, 150, "F"}, {151, 280, "G"},
	{281, 500, "H"}, {501, 1200, "J"}, {1201, 3200, "K"}, {3201, 10000, "L"}, {10001, 35000, "M"},
	{35001, 150000, "N"}, {150001, 500000, "P"}, {500001, 5000000, "Q"},
}

var letterSize = map[string]int{"A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50, "J": 80, "K": 125,
	"L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000}

const letters = "ABCDEFGHJKLMNPQR"

// resolve follows the printed grid's arrows from letter at AQL column a.
func resolve(t *testing.T, grid map[string]string, letter string, a int) (string, int, int) {
	t.Helper()
	for range 16 {
		row, ok := grid[letter]
		require.True(t, ok, "the grid has no row %s", letter)
		cellText := strings.Fields(row)[a]
		i := strings.Index(letters, letter)
		switch cellText {
		case "↑":
			letter = string(letters[i-1])
		case "↓":
			letter = string(letters[i+1])
		default:
			ac, re, _ := strings.Cut(cellText, "/")
			acN, _ := strconv.Atoi(ac)
			reN, _ := strconv.Atoi(re)
			return letter, acN, reN
		}
	}
	t.Fatalf("arrows from %s at %s never reach a plan", letter, AQLs[a])
	return "", 0, 0
}

// TestPlanMatchesTheStandard checks every lot-size range of Table 1 (its smallest and largest
// lot) at every AQL offered, on normal and tightened inspection, against the printed tables.
func TestPlanMatchesTheStandard(t *testing.T) {
	t.Parallel()
	for _, sev := range []struct {
		s    Severity
		grid map[string]string
	}{{Normal, table2A}, {Tightened, table2B}} {
		for _, r := range lotRanges {
			for a, aql := range AQLs {
				for _, lot := range []int{r.min, r.max} {
					t.Run(fmt.Sprintf("%s/%d/%s", sev.s, lot, aql), func(t *testing.T) {
						letter, ac, re := resolve(t, sev.grid, r.letter, a)
						p, err := PlanFor(lot, aql, sev.s)
						require.NoError(t, err)
						assert.Equal(t, r.letter, p.CodeLetter)
						assert.Equal(t, letter, p.PlanLetter)
						assert.Equal(t, min(letterSize[letter], lot), p.SampleSize)
						assert.Equal(t, letterSize[letter] >= lot, p.FullInspection)
						assert.Equal(t, ac, p.Accept)
						assert.Equal(t, re, p.Reject)
					})
				}
			}
		}
	}
}

// TestPlanKnownCases are plans as inspectors quote them.
func TestPlanKnownCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		lot           int
		aql           string
		sev           Severity
		letter        string
		n, ac, re     int
		fullInspected bool
	}{
		{"the textbook lot at 2.5", 2000, "2.5", Normal, "K", 125, 7, 8, false},
		{"the default AQL on a lot of 1000", 1000, "1.0", Normal, "J", 80, 2, 3, false},
		{"the default AQL on a small lot is 100% inspection", 10, "1.0", Normal, "E", 10, 0, 1, true},
		{"an arrow up to 0/1", 120, "1.0", Normal, "E", 13, 0, 1, false},
		{"1.0 spelled 1", 1000, "1", Normal, "J", 80, 2, 3, false},
		{"tightened at 2.5", 2000, "2.5", Tightened, "K", 125, 5, 6, false},
		{"tightened arrow down", 2000, "0.25", Tightened, "L", 200, 1, 2, false},
		{"the largest lots at 0.010", 600000, "0.010", Normal, "Q", 1250, 0, 1, false},
		{"row A at 10 points down", 5, "10", Normal, "B", 3, 1, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, err := PlanFor(c.lot, c.aql, c.sev)
			require.NoError(t, err)
			assert.Equal(t, c.letter, p.PlanLetter)
			assert.Equal(t, c.n, p.SampleSize)
			assert.Equal(t, c.ac, p.Accept)
			assert.Equal(t, c.re, p.Reject)
			assert.Equal(t, c.fullInspected, p.FullInspection)
		})
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, aql, field string
		lot              int
	}{
		{"an AQL off the series", "2.0", "aql", 100},
		{"a per-100-units AQL", "15", "aql", 100},
		{"not a number", "one", "aql", 100},
		{"an empty batch", "1.0", "lot_size", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := PlanFor(c.lot, c.aql, Normal)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, c.field, e.Field)
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := Plan{SampleSize: 80, Accept: 2, Reject: 3}
	cases := []struct {
		inspected, defects int
		want               Verdict
	}{
		{0, 0, Pending}, {79, 2, Pending}, {80, 2, Accepted}, {80, 0, Accepted}, {10, 3, Rejected}, {80, 3, Rejected},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, p.Decide(c.inspected, c.defects), "%d inspected, %d defects", c.inspected, c.defects)
	}
}

func TestSwitchingRules(t *testing.T) {
	t.Parallel()
	A, R, P := Accepted, Rejected, Pending
	cases := []struct {
		name    string
		history []Verdict
		want    Severity
	}{
		{"no history starts normal", nil, Normal},
		{"one rejection stays normal", []Verdict{R, A, A}, Normal},
		{"2 of 2 consecutive rejected tightens", []Verdict{R, R}, Tightened},
		{"2 of 5 consecutive rejected tightens", []Verdict{R, A, A, A, R}, Tightened},
		{"2 rejected 6 apart stay normal", []Verdict{R, A, A, A, A, R}, Normal},
		{"pending batches do not count", []Verdict{R, P, A, A, P, A, R}, Tightened},
		{"4 accepted on tightened stay tightened", []Verdict{R, R, A, A, A, A}, Tightened},
		{"5 consecutive accepted on tightened return to normal", []Verdict{R, R, A, A, A, A, A}, Normal},
		{"a rejection on tightened restarts the count", []Verdict{R, R, A, A, A, A, R, A, A, A, A}, Tightened},
		{"back on normal, the old rejections are forgotten", []Verdict{R, R, A, A, A, A, A, R}, Normal},
		{"and two new ones tighten again", []Verdict{R, R, A, A, A, A, A, R, A, R}, Tightened},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, NextSeverity(c.history))
		})
	}
}
