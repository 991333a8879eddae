package acceptance

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// history builds lots from a string, one letter per batch in the order closed:
//
//	A accepted with no defect, a accepted with Ac defects (2 on these plans: not within the
//	AQL one step tighter, whose Ac is 1), R rejected, P pending.
//
// Each lot is 1000 judgments at AQL 1.0, on normal inspection n = 80 with Ac 2 (Ac 1 at
// 0.65), or, when small is true, 200 at AQL 1.0: n = 50 with Ac 1.
func history(s string, small bool) []Lot {
	lots := make([]Lot, len(s))
	for i, c := range s {
		l := Lot{Seq: i + 1, Severity: Normal, LotSize: 1000, AQL: "1.0", Accept: 2}
		if small {
			l.LotSize, l.Accept = 200, 1
		}
		switch c {
		case 'A':
			l.Result = Accepted
		case 'a':
			l.Result, l.Defects = Accepted, l.Accept
		case 'R':
			l.Result, l.Defects = Rejected, l.Accept+1
		case 'P':
			l.Result = Pending
		}
		lots[i] = l
	}
	return lots
}

func repeat(s string, n int) (out string) {
	for range n {
		out += s
	}
	return out
}

// TestSwitchingRules holds GB/T 2828.1's switching rules (ISO 2859-1:1999 §9.3, §9.4),
// including the switching score, case by case.
func TestSwitchingRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		lots    string
		small   bool // plans with Ac 1: +2 per accepted batch
		notes   []Note
		reduced bool // the campaign allows reduced inspection
		want    Switching
	}{
		{name: "no history starts normal", want: Switching{State: Normal, Reason: ReasonStart}},
		{name: "one rejection stays normal, the score restarts after it", lots: "RAA",
			want: Switching{State: Normal, Reason: ReasonStart, Score: 6, RejectedOfLastFive: 1}},
		{name: "2 of 2 consecutive rejected tighten", lots: "RR",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 2}},
		{name: "2 of 5 consecutive rejected tighten", lots: "RAAAR",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 5}},
		{name: "2 rejected 6 apart stay normal", lots: "RAAAAR",
			want: Switching{State: Normal, Reason: ReasonStart, RejectedOfLastFive: 1}},
		{name: "pending batches do not count", lots: "RPAAPAR",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 7}},
		{name: "4 accepted on tightened stay tightened", lots: "RRAAAA",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 2, AcceptedInRow: 4}},
		{name: "5 consecutive accepted on tightened return to normal", lots: "RRAAAAA",
			want: Switching{State: Normal, Reason: ReasonFiveAccepted, SinceSeq: 7}},
		{name: "a rejection on tightened restarts the count", lots: "RRAAAARAAAA",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 2, AcceptedInRow: 4, RejectedOnTightened: 1}},
		{name: "back on normal, the old rejections are forgotten", lots: "RRAAAAAR",
			want: Switching{State: Normal, Reason: ReasonFiveAccepted, SinceSeq: 7, RejectedOfLastFive: 1}},
		{name: "and two new ones tighten again", lots: "RRAAAAARAR",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 10}},

		// Reduced inspection: the switching score, at Ac ≥ 2 +3 per batch within the tighter AQL.
		{name: "9 accepted batches score 27", lots: repeat("A", 9), reduced: true,
			want: Switching{State: Normal, Reason: ReasonStart, Score: 27, ReducedAllowed: true}},
		{name: "10 accepted batches score 30: reduced", lots: repeat("A", 10), reduced: true,
			want: Switching{State: Reduced, Reason: ReasonScore, SinceSeq: 10, ReducedAllowed: true}},
		{name: "not unless the campaign allows it", lots: repeat("A", 12),
			want: Switching{State: Normal, Reason: ReasonStart, Score: 36}},
		{name: "accepted, but not at the AQL one step tighter: the score restarts", lots: repeat("A", 9) + "a" + repeat("A", 3), reduced: true,
			want: Switching{State: Normal, Reason: ReasonStart, Score: 9, ReducedAllowed: true}},
		{name: "at Ac 1, +2 per accepted batch: 14 are not enough", lots: repeat("A", 14), small: true, reduced: true,
			want: Switching{State: Normal, Reason: ReasonStart, Score: 28, ReducedAllowed: true}},
		{name: "at Ac 1, 15 accepted batches reach 30", lots: repeat("A", 15), small: true, reduced: true,
			want: Switching{State: Reduced, Reason: ReasonScore, SinceSeq: 15, ReducedAllowed: true}},
		{name: "at Ac 1, a batch with its one defect is still accepted and counts", lots: repeat("a", 15), small: true, reduced: true,
			want: Switching{State: Reduced, Reason: ReasonScore, SinceSeq: 15, ReducedAllowed: true}},
		{name: "reduced stays while batches are accepted", lots: repeat("A", 14), reduced: true,
			want: Switching{State: Reduced, Reason: ReasonScore, SinceSeq: 10, ReducedAllowed: true}},
		{name: "one batch rejected on reduced returns to normal", lots: repeat("A", 12) + "R", reduced: true,
			want: Switching{State: Normal, Reason: ReasonReducedRejected, SinceSeq: 13, ReducedAllowed: true}},
		{name: "production irregular on reduced returns to normal", lots: repeat("A", 12), reduced: true,
			notes: []Note{{Kind: NoteIrregular, AfterSeq: 11}},
			want:  Switching{State: Normal, Reason: ReasonIrregular, SinceSeq: 11, Score: 3, ReducedAllowed: true}},
		{name: "production irregular on normal restarts the score", lots: repeat("A", 12), reduced: true,
			notes: []Note{{Kind: NoteIrregular, AfterSeq: 5}},
			want:  Switching{State: Normal, Reason: ReasonStart, Score: 21, ReducedAllowed: true}},
		{name: "a resumption while not discontinued changes nothing", lots: "RR",
			notes: []Note{{Kind: NoteResumed, AfterSeq: 2}},
			want:  Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 2}},

		// Discontinuation: 5 batches rejected in a sequence on tightened inspection.
		{name: "4 rejected on tightened stay tightened", lots: "RR" + "RARAR",
			want: Switching{State: Tightened, Reason: ReasonTwoOfFive, SinceSeq: 2, RejectedOnTightened: 3}},
		{name: "5 rejected on tightened, not all in a row, discontinue", lots: "RR" + "RARARRR",
			want: Switching{State: Discontinued, Reason: ReasonFiveRejected, SinceSeq: 9}},
		{name: "accepted batches on tightened do not reset the count", lots: "RR" + "RAAAARRRR",
			want: Switching{State: Discontinued, Reason: ReasonFiveRejected, SinceSeq: 11}},
		{name: "resumed: tightened again, counting afresh", lots: "RR" + "RRRRR" + "AA",
			notes: []Note{{Kind: NoteResumed, AfterSeq: 7}},
			want:  Switching{State: Tightened, Reason: ReasonResumed, SinceSeq: 7, AcceptedInRow: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, Switch(history(c.lots, c.small), c.notes, c.reduced))
		})
	}
}
