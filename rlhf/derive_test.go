package rlhf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

func c(id int64) rlhf.Side { return rlhf.Side{CandidateID: id} }
func m(id int64) rlhf.Side { return rlhf.Side{MessageID: id} }

// TestDerive is the case: four candidates with a tie, an edit and a gold reply give
// exactly these pairs.
func TestDerive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		j    rlhf.Judgment
		want []rlhf.Pair
	}{
		{
			name: "four candidates, a tie, an edit and gold",
			j: rlhf.Judgment{
				Ranking: [][]int64{{11}, {12, 13}, {14}}, // 11 ≻ 12 = 13 ≻ 14
				Ratings: map[int64]map[string]float64{
					11: {"accuracy": 1, "warmth": 0.75},  // mean 0.875
					12: {"accuracy": 0.5, "warmth": 0.5}, // mean 0.5
					13: {"accuracy": 0.75},               // mean 0.75
					14: {"accuracy": 0, "warmth": 0.25},  // mean 0.125
				},
				Edited: &rlhf.Edit{Original: 12, Reply: rlhf.Reply{MessageID: 901}},
				Gold:   &rlhf.Reply{MessageID: 902},
			},
			want: []rlhf.Pair{
				{Chosen: c(11), Rejected: c(12), Rule: rlhf.RuleRanking, Margin: 0.875}, // 0.5 + (0.875-0.5)
				{Chosen: c(11), Rejected: c(13), Rule: rlhf.RuleRanking, Margin: 0.625}, // 0.5 + (0.875-0.75)
				{Chosen: c(11), Rejected: c(14), Rule: rlhf.RuleRanking, Margin: 1.75},  // 1.0 + (0.875-0.125)
				{Chosen: c(12), Rejected: c(14), Rule: rlhf.RuleRanking, Margin: 0.875}, // 0.5 + (0.5-0.125)
				{Chosen: c(13), Rejected: c(14), Rule: rlhf.RuleRanking, Margin: 1.125}, // 0.5 + (0.75-0.125)
				{Chosen: m(901), Rejected: c(12), Rule: rlhf.RuleEdit, Margin: 1},       // the correction
				{Chosen: m(902), Rejected: c(11), Rule: rlhf.RuleGold, Margin: 1},       // gold over the best
				{Chosen: m(902), Rejected: c(12), Rule: rlhf.RuleGold, Margin: 1.5},     // and more over worse ones
				{Chosen: m(902), Rejected: c(13), Rule: rlhf.RuleGold, Margin: 1.5},
				{Chosen: m(902), Rejected: c(14), Rule: rlhf.RuleGold, Margin: 2},
			},
		},
		{
			name: "ratings that disagree with the ranking add nothing, and never subtract",
			j:    rlhf.Judgment{Ranking: [][]int64{{1}, {2}}, Ratings: map[int64]map[string]float64{1: {"a": 0.25}, 2: {"a": 1}}},
			want: []rlhf.Pair{{Chosen: c(1), Rejected: c(2), Rule: rlhf.RuleRanking, Margin: 0.5}},
		},
		{
			name: "unrated: the rank gap alone",
			j:    rlhf.Judgment{Ranking: [][]int64{{1}, {2}, {3}}},
			want: []rlhf.Pair{
				{Chosen: c(1), Rejected: c(2), Rule: rlhf.RuleRanking, Margin: 0.5},
				{Chosen: c(1), Rejected: c(3), Rule: rlhf.RuleRanking, Margin: 1},
				{Chosen: c(2), Rejected: c(3), Rule: rlhf.RuleRanking, Margin: 0.5},
			},
		},
		{name: "all tied: no pair", j: rlhf.Judgment{Ranking: [][]int64{{1, 2, 3}}}},
		{
			name: "all bad: gold over every candidate, ties kept level",
			j:    rlhf.Judgment{Ranking: [][]int64{{1, 2}}, Gold: &rlhf.Reply{MessageID: 7}},
			want: []rlhf.Pair{
				{Chosen: m(7), Rejected: c(1), Rule: rlhf.RuleGold, Margin: 1},
				{Chosen: m(7), Rejected: c(2), Rule: rlhf.RuleGold, Margin: 1},
			},
		},
		{name: "a single candidate with nothing else: no pair", j: rlhf.Judgment{Ranking: [][]int64{{5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, rlhf.Derive(tt.j))
		})
	}
}

func TestValidateRanking(t *testing.T) {
	t.Parallel()
	turn := []int64{1, 2, 3}
	tests := []struct {
		name string
		j    rlhf.Judgment
		want string
	}{
		{"a candidate not in the turn", rlhf.Judgment{Ranking: [][]int64{{1}, {2}, {3}, {9}}}, "candidate 9, which is not in this turn"},
		{"one missing", rlhf.Judgment{Ranking: [][]int64{{1}, {2}}}, "ranking misses candidate 3"},
		{"a duplicate", rlhf.Judgment{Ranking: [][]int64{{1, 2}, {2}, {3}}}, "names candidate 2 twice"},
		{"an empty group", rlhf.Judgment{Ranking: [][]int64{{1}, {}, {2, 3}}}, "ranking[1] is an empty group"},
		{"an edit of another turn's candidate", rlhf.Judgment{Ranking: [][]int64{{1, 2, 3}}, Edited: &rlhf.Edit{Original: 8}}, "corrects candidate 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.j.Validate(turn)
			require.Error(t, err)
			assert.Equal(t, errs.Unprocessable, errs.KindOf(err), "a 422")
			assert.Contains(t, errs.Message(err), tt.want)
		})
	}
	assert.NoError(t, rlhf.Judgment{Ranking: [][]int64{{3}, {1, 2}}}.Validate(turn))
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	v, err := rlhf.Normalize("warmth", 4, 1, 5)
	require.NoError(t, err)
	assert.Equal(t, 0.75, v)
	_, err = rlhf.Normalize("warmth", 6, 1, 5)
	assert.Contains(t, errs.Message(err), "rating for warmth must be between 1 and 5, got 6")
	_, err = rlhf.Normalize("warmth", 0, 1, 5)
	assert.Equal(t, errs.Unprocessable, errs.KindOf(err))
}
