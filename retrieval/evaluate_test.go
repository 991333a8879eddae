package retrieval_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/retrieval"
)

func TestMeasureAgainstHandComputedExamples(t *testing.T) {
	t.Parallel()
	log2 := math.Log2
	tests := []struct {
		name    string
		results []retrieval.Scored
		grades  map[int64]int
		k       int
		want    retrieval.QueryMetrics
		ok      bool
	}{
		{
			// Ranked 5, 3, 9, 1; relevant 3 (grade 2), 1 and 7 (grade 1). At k = 3 only 3 is found, at rank 2.
			name:    "graded, cut at k",
			results: []retrieval.Scored{{5, 0.9}, {3, 0.8}, {9, 0.7}, {1, 0.6}},
			grades:  map[int64]int{3: 2, 1: 1, 7: 1, 9: 0},
			k:       3,
			want: retrieval.QueryMetrics{Recall: 1.0 / 3, RR: 0.5,
				NDCG: (2 / log2(3)) / (2/log2(2) + 1/log2(3) + 1/log2(4))},
			ok: true,
		},
		{
			name:    "perfect ranking",
			results: []retrieval.Scored{{1, 3}, {2, 2}, {3, 1}},
			grades:  map[int64]int{1: 2, 2: 1},
			k:       3,
			want:    retrieval.QueryMetrics{Recall: 1, NDCG: 1, RR: 1},
			ok:      true,
		},
		{
			// Equal scores: trec_eval puts the higher id first, so 20 ranks above 10.
			name:    "ties go to the higher id",
			results: []retrieval.Scored{{10, 0.5}, {20, 0.5}},
			grades:  map[int64]int{10: 1},
			k:       2,
			want:    retrieval.QueryMetrics{Recall: 1, RR: 0.5, NDCG: (1 / log2(3)) / 1},
			ok:      true,
		},
		{
			name:    "results arrive unsorted",
			results: []retrieval.Scored{{4, 0.1}, {8, 0.9}},
			grades:  map[int64]int{4: 1},
			k:       1,
			want:    retrieval.QueryMetrics{Recall: 0, RR: 0, NDCG: 0},
			ok:      true,
		},
		{
			name:    "nothing relevant: left out",
			results: []retrieval.Scored{{1, 1}},
			grades:  map[int64]int{1: 0},
			k:       5,
			ok:      false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retrieval.Measure(tt.results, tt.grades, tt.k)
			assert.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.want.Recall, got.Recall, 1e-12, "recall")
			assert.InDelta(t, tt.want.NDCG, got.NDCG, 1e-12, "nDCG")
			assert.InDelta(t, tt.want.RR, got.RR, 1e-12, "RR")
		})
	}
	// The first example's nDCG, worked out by hand: 1.26186 / 3.13093.
	m, _ := retrieval.Measure(tests[0].results, tests[0].grades, 3)
	assert.InDelta(t, 0.40303, m.NDCG, 1e-5)
}
