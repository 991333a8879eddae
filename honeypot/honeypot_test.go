package honeypot

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/errs"
)

var flags = []string{"hallucination", "unsafe", "off_persona", "refusal"}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	cands := []int64{11, 12, 13}
	tests := []struct {
		name   string
		answer Answer
		field  string // empty: valid
	}{
		{"best", Answer{Kind: Best, CandidateID: 12}, ""},
		{"best of another item", Answer{Kind: Best, CandidateID: 99}, "answer.candidate_id"},
		{"no kind", Answer{CandidateID: 12}, "answer.kind"},
		{"defect", Answer{Kind: Defect, CandidateID: 11, Flag: "hallucination"}, ""},
		{"defect without a flag", Answer{Kind: Defect, CandidateID: 11}, "answer.flag"},
		{"ordering", Answer{Kind: Ordering, Ranking: [][]int64{{12}, {11, 13}}}, ""},
		{"ordering missing one", Answer{Kind: Ordering, Ranking: [][]int64{{12}, {11}}}, "answer.ranking"},
		{"ordering twice", Answer{Kind: Ordering, Ranking: [][]int64{{12}, {12, 11, 13}}}, "answer.ranking[1]"},
		{"ordering all tied", Answer{Kind: Ordering, Ranking: [][]int64{{11, 12, 13}}}, "answer.ranking"},
		{"ordering empty place", Answer{Kind: Ordering, Ranking: [][]int64{{11}, {}, {12, 13}}}, "answer.ranking[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.answer.Validate(cands, flags)
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var e *errs.Error
			if assert.ErrorAs(t, err, &e) {
				assert.Equal(t, tt.field, e.Field)
			}
		})
	}
}

func TestCorrect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answer  Answer
		ranking [][]int64
		flags   map[string][]string
		want    bool
	}{
		{"best first", Answer{Kind: Best, CandidateID: 1}, [][]int64{{1}, {2}}, nil, true},
		{"best second", Answer{Kind: Best, CandidateID: 1}, [][]int64{{2}, {1}}, nil, false},
		{"best tied first", Answer{Kind: Best, CandidateID: 1}, [][]int64{{1, 2}}, nil, false},
		{"ordering kept", Answer{Kind: Ordering, Ranking: [][]int64{{1}, {2, 3}}}, [][]int64{{1}, {3}, {2}}, nil, true},
		{"ordering broken", Answer{Kind: Ordering, Ranking: [][]int64{{1}, {2}, {3}}}, [][]int64{{1}, {3}, {2}}, nil, false},
		{"ordering tied where gold is not", Answer{Kind: Ordering, Ranking: [][]int64{{1}, {2}}}, [][]int64{{1, 2}}, nil, false},
		{"defect flagged", Answer{Kind: Defect, CandidateID: 2, Flag: "unsafe"}, nil, map[string][]string{"2": {"unsafe"}}, true},
		{"defect missed", Answer{Kind: Defect, CandidateID: 2, Flag: "unsafe"}, nil, map[string][]string{"1": {"unsafe"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.answer.Correct(tt.ranking, tt.flags))
		})
	}
}

func TestDealtKeepsTheRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rate     float64
		from, to int // claim numbers
		want     float64
	}{
		{"first items doubled", 0.05, 0, FirstItems, 0.10},
		{"after the first items", 0.05, FirstItems, 4000, 0.05},
		{"doubling stops at the maximum", 0.4, 0, FirstItems, 0.5},
		{"off", 0, 0, 4000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dealt, total := 0, 0
			for trainer := int64(1); trainer <= 200; trainer++ {
				for n := tt.from; n < tt.to; n++ {
					total++
					if Dealt(42, trainer, n, tt.rate) {
						dealt++
					}
				}
			}
			assert.InDelta(t, tt.want, float64(dealt)/float64(total), 0.01)
		})
	}
	assert.NotEqual(t, seq(1), seq(2), "two seeds deal differently")
}

func seq(seed uint64) []bool {
	out := make([]bool, 200)
	for n := range out {
		out[n] = Dealt(seed, 7, n+FirstItems, 0.2)
	}
	return out
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	rep := func(ok bool, n int) []bool {
		out := make([]bool, n)
		for i := range out {
			out[i] = ok
		}
		return out
	}
	tests := []struct {
		name   string
		recent []bool
		pause  bool
		acc    float64
	}{
		{"too few to judge", rep(false, 9), false, 0},
		{"ten wrong", rep(false, 10), true, 0},
		{"at the threshold", append(rep(true, 7), rep(false, 3)...), false, 0.7},
		{"below", append(rep(true, 6), rep(false, 4)...), true, 0.6},
		// Only the last 20 count: 20 right ones, then 30 old wrong ones.
		{"old mistakes forgotten", append(rep(true, 20), rep(false, 30)...), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			acc, _, pause := DefaultPolicy.Judge(tt.recent)
			assert.Equal(t, tt.pause, pause)
			assert.InDelta(t, tt.acc, acc, 1e-9)
		})
	}
}
