package agreement

import (
	"math"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// na marks a missing value in the worked examples' tables.
var na = math.NaN()

// byUnit turns a coders × units table (NaN for missing) into units of values.
func byUnit(table [][]float64) [][]float64 {
	units := make([][]float64, len(table[0]))
	for _, coder := range table {
		for u, v := range coder {
			if !math.IsNaN(v) {
				units[u] = append(units[u], v)
			}
		}
	}
	return units
}

// Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: four
// observers, twelve units, missing values, and unit 12 with one value nobody paired.
var reliabilityData = [][]float64{
	{1, 2, 3, 3, 2, 1, 4, 1, 2, na, na, na},
	{1, 2, 3, 3, 2, 2, 4, 1, 2, 5, na, 3},
	{na, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, na},
	{1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, na},
}

func TestAlphaMatchesKrippendorffsExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		table [][]float64
		level Level
		want  float64
	}{
		// Section A: two observers, binary data, no missing values.
		{"binary nominal", [][]float64{{0, 1, 0, 0, 0, 0, 0, 0, 1, 0}, {1, 1, 1, 0, 0, 1, 0, 0, 0, 0}}, Nominal, 0.095},
		// Section C, at each level the paper gives.
		{"missing values nominal", reliabilityData, Nominal, 0.743},
		{"missing values ordinal", reliabilityData, Ordinal, 0.815},
		{"missing values interval", reliabilityData, Interval, 0.849},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, ok := Alpha(tt.level, byUnit(tt.table))
			require.True(t, ok)
			assert.InDelta(t, tt.want, got, 0.0005, "α %s", tt.level)
		})
	}
}

func TestAlphaUnpairedValueDoesNotCount(t *testing.T) {
	t.Parallel()
	// Unit 12's lone 3 changes nothing: dropping the unit gives the same α, and so does
	// giving it a value nobody else used.
	units := byUnit(reliabilityData)
	want, n, _ := Alpha(Nominal, units)
	assert.Equal(t, 40, n, "pairable values: 41 in the table, less the lone one")
	got, _, _ := Alpha(Nominal, units[:11])
	assert.InDelta(t, want, got, 1e-12)
	units[11] = []float64{9}
	got, _, _ = Alpha(Nominal, units)
	assert.InDelta(t, want, got, 1e-12)
}

func TestAlphaUndefined(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		units [][]float64
	}{
		{"no units", nil},
		{"nothing pairable", [][]float64{{1}, {2}}},
		{"every value alike", [][]float64{{1, 1}, {1, 1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, ok := Alpha(Ordinal, tt.units)
			assert.False(t, ok)
		})
	}
}

func TestKendallW(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rankings [][]float64
		want     float64
		ok       bool
	}{
		// Wikipedia's and every textbook's bounds: identical rankings agree fully.
		{"unanimous", [][]float64{{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}, 1, true},
		// Two judges in exactly opposite order: no concordance at all.
		{"opposite", [][]float64{{1, 2, 3}, {3, 2, 1}}, 0, true},
		{"one ranking", [][]float64{{1, 2}}, 0, false},
		{"all tied", [][]float64{{1, 1}, {2, 2}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := KendallW(tt.rankings)
			require.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.want, got, 0.0005)
		})
	}
}

// TestKendallWWithTiesMatchesPublishedExample is the worked example of R's irr package
// (Gamer et al., kendall(anxiety, correct = TRUE), the same data as DescTools' KendallW
// example): 3 raters score 20 subjects' anxiety from 1 to 6, with ties in every rater's
// scores. The package documents "Wt = 0.54, Chisq(19) = 30.8, p-value = 0.0429"; its
// port pyirr asserts the same. χ² = m(n−1)W = 57W, so 30.8 to one decimal pins W to
// 0.5395…0.5412, three decimals: 0.540. Without the tie correction W would be 0.509.
func TestKendallWWithTiesMatchesPublishedExample(t *testing.T) {
	t.Parallel()
	anxiety := [][]float64{ // one ranking per rater, over the 20 subjects
		{3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3},
		{3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4},
		{2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2},
	}
	w, ok := KendallW(anxiety)
	require.True(t, ok)
	assert.InDelta(t, 0.54, w, 0.005, "Wt = 0.54")
	assert.InDelta(t, 30.8, 3*19*w, 0.05, "Chisq(19) = 30.8")
	assert.InDelta(t, 0.540, w, 0.0009, "to 3 decimals")
}

func TestParseRanking(t *testing.T) {
	t.Parallel()
	got, err := parseRanking("[[12], [3, 45], [6]]")
	require.NoError(t, err)
	assert.Equal(t, [][]int64{{12}, {3, 45}, {6}}, got)
	for _, bad := range []string{"[[1]", "[[[1]]]", `[["a"]]`, "[1]"} {
		_, err := parseRanking(bad)
		assert.Error(t, err, bad)
	}
}

// TestJSONReader reads stored flags and ratings as PostgreSQL prints jsonb, escapes and
// unknown keys included, and names what is wrong in what it cannot read.
func TestJSONReader(t *testing.T) {
	r := newJSONReader()
	flags, err := r.flags([]byte(`{"12": ["hallucination", "unsafe"], "13": []}`))
	require.NoError(t, err)
	assert.Equal(t, []candidateFlag{{12, "hallucination"}, {12, "unsafe"}}, flags)
	none, err := r.flags([]byte(`{}`))
	require.NoError(t, err)
	assert.Empty(t, none)

	scores, err := r.ratings([]byte(`{"7": {"warmth": {"max": 5, "min": 1, "value": 4}, "h\u0065lpful": {"note": {"x": [1]}, "value": 2.5}}, "8": {}}`))
	require.NoError(t, err)
	assert.Equal(t, []candidateScore{{7, "warmth", 4}, {7, "helpful", 2.5}}, scores)
	again, err := r.ratings([]byte(`{"9": {"warmth": {"value": 1}}}`))
	require.NoError(t, err)
	assert.Same(t, unsafe.StringData(scores[0].dimension), unsafe.StringData(again[0].dimension), "names are interned")

	for _, bad := range []struct{ in, want string }{
		{`{"x": ["unsafe"]}`, `candidate "x"`},
		{`{"7": {"warmth": {"min": 1}}}`, `ratings[7][warmth] has no value`},
		{`{"7": {"warmth": {"value": "4"}}}`, `ratings[7][warmth].value is string, not a number`},
		{`{"7": {"warmth": 4}}`, `where {`},
		{`{"7": {"warmth": {"value": 4}`, `EOF`},
	} {
		_, err := r.ratings([]byte(bad.in))
		require.Error(t, err, bad.in)
		assert.Contains(t, err.Error(), bad.want, bad.in)
	}
	_, err = r.flags([]byte(`{"12": "unsafe"}`))
	assert.ErrorContains(t, err, "where [")
}
