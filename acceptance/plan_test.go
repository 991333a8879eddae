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

// table2A, table2B and table2C are GB/T 2828.1-2012's (ISO 2859-1:1999's) Tables 2-A
// (normal), 2-B (tightened) and 2-C (reduced) for single sampling, as the plan each cell
// comes to once its arrows are followed: rows are the initial code letters A to R, columns
// the AQLs 0.010 to 10, and each cell is the plan's letter, sample size n and Ac (Re is
// Ac + 1 in all three tables of the 1999 edition).
//
// They are not derived from plan.go's diagonals. They were taken from a published
// implementation of GB/T 2828.1-2012 whose tables state they were checked cell by cell
// against the standard's printed pages (the aql.ts of a Chinese quality-control project,
// found through the code search; its 2-A agrees with two further implementations of
// ISO 2859-1 / MIL-STD-105E, one of them checked against the MIL-STD-105E scan). Checking
// Mentor's tables against them found a transcription error in both 2-A and 2-B: the cell
// two steps past 0/1 held 1/2 where the standard prints ↓, so, for example, a lot of 151 to
// 280 at AQL 1.0 was sampled 32 with Ac 1 instead of 50 with Ac 1 (TestPlanKnownCases).
var table2A = map[string]string{
	"A": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     B3/0     A2/0     C5/1",
	"B": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     B3/0     A2/0     C5/1",
	"C": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     B3/0     D8/1     C5/1",
	"D": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     E13/1    D8/1     D8/2",
	"E": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     F20/1    E13/1    E13/2    E13/3",
	"F": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    G32/1    F20/1    F20/2    F20/3    F20/5",
	"G": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    H50/1    G32/1    G32/2    G32/3    G32/5    G32/7",
	"H": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    J80/1    H50/1    H50/2    H50/3    H50/5    H50/7    H50/10",
	"J": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    K125/1   J80/1    J80/2    J80/3    J80/5    J80/7    J80/10   J80/14",
	"K": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    L200/1   K125/1   K125/2   K125/3   K125/5   K125/7   K125/10  K125/14  K125/21",
	"L": "Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   M315/1   L200/1   L200/2   L200/3   L200/5   L200/7   L200/10  L200/14  L200/21  K125/21",
	"M": "Q1250/0  P800/0   N500/0   M315/0   L200/0   N500/1   M315/1   M315/2   M315/3   M315/5   M315/7   M315/10  M315/14  M315/21  L200/21  K125/21",
	"N": "Q1250/0  P800/0   N500/0   M315/0   P800/1   N500/1   N500/2   N500/3   N500/5   N500/7   N500/10  N500/14  N500/21  M315/21  L200/21  K125/21",
	"P": "Q1250/0  P800/0   N500/0   Q1250/1  P800/1   P800/2   P800/3   P800/5   P800/7   P800/10  P800/14  P800/21  N500/21  M315/21  L200/21  K125/21",
	"Q": "Q1250/0  P800/0   R2000/1  Q1250/1  Q1250/2  Q1250/3  Q1250/5  Q1250/7  Q1250/10 Q1250/14 Q1250/21 P800/21  N500/21  M315/21  L200/21  K125/21",
	"R": "Q1250/0  P800/0   R2000/1  R2000/2  R2000/3  R2000/5  R2000/7  R2000/10 R2000/14 R2000/21 Q1250/21 P800/21  N500/21  M315/21  L200/21  K125/21",
}

var table2B = map[string]string{
	"A": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     B3/0     A2/0",
	"B": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     B3/0     D8/1",
	"C": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     C5/0     E13/1    D8/1",
	"D": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    D8/0     F20/1    E13/1    D8/1",
	"E": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    E13/0    G32/1    F20/1    E13/1    E13/2",
	"F": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    F20/0    H50/1    G32/1    F20/1    F20/2    F20/3",
	"G": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    G32/0    J80/1    H50/1    G32/1    G32/2    G32/3    G32/5",
	"H": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    H50/0    K125/1   J80/1    H50/1    H50/2    H50/3    H50/5    H50/8",
	"J": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   J80/0    L200/1   K125/1   J80/1    J80/2    J80/3    J80/5    J80/8    J80/12",
	"K": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   K125/0   M315/1   L200/1   K125/1   K125/2   K125/3   K125/5   K125/8   K125/12  K125/18",
	"L": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   L200/0   N500/1   M315/1   L200/1   L200/2   L200/3   L200/5   L200/8   L200/12  L200/18  K125/18",
	"M": "R2000/0  Q1250/0  P800/0   N500/0   M315/0   P800/1   N500/1   M315/1   M315/2   M315/3   M315/5   M315/8   M315/12  M315/18  L200/18  K125/18",
	"N": "R2000/0  Q1250/0  P800/0   N500/0   Q1250/1  P800/1   N500/1   N500/2   N500/3   N500/5   N500/8   N500/12  N500/18  M315/18  L200/18  K125/18",
	"P": "R2000/0  Q1250/0  P800/0   R2000/1  Q1250/1  P800/1   P800/2   P800/3   P800/5   P800/8   P800/12  P800/18  N500/18  M315/18  L200/18  K125/18",
	"Q": "R2000/0  Q1250/0  S3150/1  R2000/1  Q1250/1  Q1250/2  Q1250/3  Q1250/5  Q1250/8  Q1250/12 Q1250/18 P800/18  N500/18  M315/18  L200/18  K125/18",
	"R": "R2000/0  Q1250/0  S3150/1  R2000/1  R2000/2  R2000/3  R2000/5  R2000/8  R2000/12 R2000/18 Q1250/18 P800/18  N500/18  M315/18  L200/18  K125/18",
}

var table2C = map[string]string{
	"A": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     D3/0     C2/0     B2/0     A2/0     D3/1",
	"B": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     D3/0     C2/0     B2/0     A2/0     D3/1",
	"C": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     D3/0     C2/0     B2/0     E5/1     D3/1",
	"D": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     D3/0     C2/0     F8/1     E5/1     D3/1",
	"E": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     D3/0     G13/1    F8/1     E5/1     E5/2",
	"F": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     E5/0     H20/1    G13/1    F8/1     F8/2     F8/3",
	"G": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    F8/0     J32/1    H20/1    G13/1    G13/2    G13/3    G13/5",
	"H": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    G13/0    K50/1    J32/1    H20/1    H20/2    H20/3    H20/5    H20/6",
	"J": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    H20/0    L80/1    K50/1    J32/1    J32/2    J32/3    J32/5    J32/6    J32/8",
	"K": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    J32/0    M125/1   L80/1    K50/1    K50/2    K50/3    K50/5    K50/6    K50/8    K50/10",
	"L": "Q500/0   P315/0   N200/0   M125/0   L80/0    K50/0    N200/1   M125/1   L80/1    L80/2    L80/3    L80/5    L80/6    L80/8    L80/10   K50/10",
	"M": "Q500/0   P315/0   N200/0   M125/0   L80/0    P315/1   N200/1   M125/1   M125/2   M125/3   M125/5   M125/6   M125/8   M125/10  L80/10   K50/10",
	"N": "Q500/0   P315/0   N200/0   M125/0   Q500/1   P315/1   N200/1   N200/2   N200/3   N200/5   N200/6   N200/8   N200/10  M125/10  L80/10   K50/10",
	"P": "Q500/0   P315/0   N200/0   R800/1   Q500/1   P315/1   P315/2   P315/3   P315/5   P315/6   P315/8   P315/10  N200/10  M125/10  L80/10   K50/10",
	"Q": "Q500/0   P315/0   N200/0   R800/1   Q500/1   Q500/2   Q500/3   Q500/5   Q500/6   Q500/8   Q500/10  P315/10  N200/10  M125/10  L80/10   K50/10",
	"R": "Q500/0   P315/0   N200/0   R800/1   R800/2   R800/3   R800/5   R800/6   R800/8   R800/10  Q500/10  P315/10  N200/10  M125/10  L80/10   K50/10",
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

// referencePlan reads a reference grid's cell for an initial letter at AQL column a.
func referencePlan(t *testing.T, grid map[string]string, letter string, a int) (string, int, int) {
	t.Helper()
	row, ok := grid[letter]
	require.True(t, ok, "the grid has no row %s", letter)
	text := strings.Fields(row)[a]
	at := strings.IndexAny(text, "0123456789")
	n, ac, _ := strings.Cut(text[at:], "/")
	nN, err := strconv.Atoi(n)
	require.NoError(t, err)
	acN, err := strconv.Atoi(ac)
	require.NoError(t, err)
	return text[:at], nN, acN
}

// TestTablesMatchTheStandard checks every initial code letter A to R at every AQL offered,
// on normal, tightened and reduced inspection, against the published tables: the plan's
// letter, n, Ac and Re.
func TestTablesMatchTheStandard(t *testing.T) {
	t.Parallel()
	for _, sev := range []struct {
		s    Severity
		grid map[string]string
	}{{Normal, table2A}, {Tightened, table2B}, {Reduced, table2C}} {
		tb := tables[sev.s]
		for l := range 16 {
			for a, aql := range AQLs {
				letter, n, ac := referencePlan(t, sev.grid, codeLetters[l], a)
				got, c, err := tb.resolve(l, a)
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("%s%d/%d-%d", letter, n, ac, ac+1), fmt.Sprintf("%s%d/%d-%d", codeLetters[got], tb.sizes[got], c.ac, c.re),
					"Table %s, letter %s, AQL %s", tb.name, codeLetters[l], aql)
			}
		}
	}
}

// TestPlanMatchesTheStandard checks every lot-size range of Table 1 (its smallest and largest
// lot) at every AQL offered, on each severity, against the published tables, with 100%
// inspection when the plan's n is not smaller than the lot.
func TestPlanMatchesTheStandard(t *testing.T) {
	t.Parallel()
	for _, sev := range []struct {
		s    Severity
		grid map[string]string
	}{{Normal, table2A}, {Tightened, table2B}, {Reduced, table2C}} {
		for _, r := range lotRanges {
			for a, aql := range AQLs {
				for _, lot := range []int{r.min, r.max} {
					letter, n, ac := referencePlan(t, sev.grid, r.letter, a)
					p, err := PlanFor(lot, aql, sev.s)
					require.NoError(t, err)
					name := fmt.Sprintf("%s/%d/%s", sev.s, lot, aql)
					assert.Equal(t, r.letter, p.CodeLetter, name)
					assert.Equal(t, letter, p.PlanLetter, name)
					assert.Equal(t, min(n, lot), p.SampleSize, name)
					assert.Equal(t, n >= lot, p.FullInspection, name)
					assert.Equal(t, ac, p.Accept, name)
					assert.Equal(t, ac+1, p.Reject, name)
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
		// The transcription error these tables had: two steps past 0/1 is an arrow down.
		{"lot 151-280 at the default AQL is sampled 50, not 32", 200, "1.0", Normal, "H", 50, 1, 2, false},
		{"lot 51-90 at 2.5 is sampled 20, not 13", 60, "2.5", Normal, "F", 20, 1, 2, false},
		{"tightened: two arrows down from K at 0.25", 2000, "0.25", Tightened, "M", 315, 1, 2, false},
		{"tightened: 1000 at 1.0 is 80 with Ac 1", 1000, "1.0", Tightened, "J", 80, 1, 2, false},
		{"tightened: the largest lots at 0.025 reach letter S", 600000, "0.025", Tightened, "S", 3150, 1, 2, false},
		{"the largest lots at 0.010", 600000, "0.010", Normal, "Q", 1250, 0, 1, false},
		{"row A at 10 points down, past B's arrow", 5, "10", Normal, "C", 5, 1, 2, true},
		{"reduced: 1000 at 1.0", 1000, "1.0", Reduced, "J", 32, 1, 2, false},
		{"reduced: 2000 at 2.5", 2000, "2.5", Reduced, "K", 50, 5, 6, false},
		{"reduced: its own sample sizes", 5000, "0.65", Reduced, "L", 80, 2, 3, false},
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
