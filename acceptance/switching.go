package acceptance

// The switching rules of GB/T 2828.1 (ISO 2859-1:1999 §9.3 and §9.4), per base and campaign,
// from the centre's results on the base's batches, oldest first:
//
//   - normal → tightened when 2 of 5 or fewer consecutive batches are rejected (§9.3.1);
//   - tightened → normal when 5 consecutive batches are accepted (§9.3.2);
//   - normal → reduced when the switching score is at least 30, production is steady and
//     the responsible authority allows reduced inspection (§9.3.3);
//   - reduced → normal when a batch is rejected, or production becomes irregular or delayed,
//     or other conditions warrant it (§9.3.4);
//   - tightened → discontinued when the batches rejected in a sequence of consecutive
//     batches on tightened inspection reach 5; inspection resumes, on tightened inspection,
//     once the base has acted to improve (§9.4).
//
// The switching score (§9.3.3.2, single sampling) starts at 0 on normal inspection and is
// updated after each batch inspected on it: when the plan's Ac is 2 or more, +3 if the batch
// would have been accepted had the AQL been one step tighter, else back to 0; when Ac is 0
// or 1, +2 if the batch was accepted, else back to 0. So 10 accepted batches in a row at
// Ac ≥ 2, or 15 at Ac ≤ 1, reach 30.

// Reason says why the switching rules are in their state: the last switch.
type Reason string

// The reasons. The UI names them (locale keys qc.switch.<reason>).
const (
	ReasonStart           Reason = "start"                      // normal, as every base begins
	ReasonTwoOfFive       Reason = "two_of_five_rejected"       // normal → tightened
	ReasonFiveAccepted    Reason = "five_accepted"              // tightened → normal
	ReasonScore           Reason = "switching_score"            // normal → reduced
	ReasonReducedRejected Reason = "reduced_batch_rejected"     // reduced → normal
	ReasonIrregular       Reason = "production_irregular"       // reduced → normal
	ReasonFiveRejected    Reason = "five_rejected_on_tightened" // tightened → discontinued
	ReasonResumed         Reason = "resumed"                    // discontinued → tightened
)

// Note kinds: what people record that the batches do not show.
const (
	NoteIrregular = "irregular" // production became irregular or delayed
	NoteResumed   = "resumed"   // after a discontinuation, the base acted and inspection resumes
)

// Lot is what the switching rules read of one batch.
type Lot struct {
	Seq      int
	Severity Severity // how it was inspected
	Result   Verdict  // the centre's result
	LotSize  int
	AQL      string
	Accept   int // its plan's Ac
	Defects  int // what the centre found in its sample
}

// Note is a recorded irregularity or resumption, after the base's AfterSeq-th batch.
type Note struct {
	Kind     string
	AfterSeq int
}

// Switching is where a base stands under the switching rules, and how far it is from the
// next switch: what the QC page shows beside the base's batches.
type Switching struct {
	// State is the inspection the base's next batch gets, or discontinued: no batch is
	// closed until a project admin resumes the inspection.
	State  Severity `json:"state"`
	Reason Reason   `json:"reason"` // why: the last switch
	// SinceSeq is the base's batch after which the state began (0: from the first).
	SinceSeq int `json:"since_seq"`
	// Score is the switching score on normal inspection (30 allows reduced); 0 elsewhere.
	Score int `json:"switching_score"`
	// ReducedAllowed is the campaign's setting: whether the score may switch to reduced.
	ReducedAllowed bool `json:"reduced_allowed"`
	// RejectedOfLastFive counts, on normal inspection, the batches rejected among the last 5
	// since it began (2 tighten it).
	RejectedOfLastFive int `json:"rejected_of_last_five"`
	// AcceptedInRow counts, on tightened inspection, the consecutive accepted batches (5
	// return to normal).
	AcceptedInRow int `json:"accepted_in_row"`
	// RejectedOnTightened counts the batches rejected since tightened inspection began (5
	// discontinue the inspection).
	RejectedOnTightened int `json:"rejected_on_tightened"`
}

// scoreStep is the switching score after lot, on normal inspection.
func scoreStep(score int, lot Lot) int {
	accepted := lot.Result == Accepted
	if lot.Accept < 2 {
		if accepted {
			return score + 2
		}
		return 0
	}
	if !accepted {
		return 0
	}
	a, err := ParseAQL("aql", lot.AQL)
	if err != nil || a == 0 {
		return 0 // no tighter AQL (0.010's plans all have Ac 0, so this is not reached)
	}
	tighter, err := PlanFor(lot.LotSize, AQLs[a-1], Normal)
	if err != nil || lot.Defects > tighter.Accept {
		return 0
	}
	return score + 3
}

// Switch applies the switching rules to a base's batches (in the order closed) and notes.
// Batches whose centre result is pending do not count. reducedAllowed is the campaign's
// setting now, applied to the whole history: turning it off returns a base on reduced
// inspection to normal, as if it had never been on.
func Switch(lots []Lot, notes []Note, reducedAllowed bool) Switching {
	sw := Switching{State: Normal, Reason: ReasonStart, ReducedAllowed: reducedAllowed}
	var window []Verdict // results on normal inspection since it began
	to := func(s Severity, r Reason, seq int) {
		sw.State, sw.Reason, sw.SinceSeq = s, r, seq
		sw.Score, sw.RejectedOfLastFive, sw.AcceptedInRow, sw.RejectedOnTightened = 0, 0, 0, 0
		window = nil
	}
	note := func(n Note) {
		switch {
		case n.Kind == NoteIrregular && sw.State == Reduced:
			to(Normal, ReasonIrregular, n.AfterSeq)
		case n.Kind == NoteIrregular && sw.State == Normal:
			// Production was not steady over the batches the score counted (§9.3.3 b): the
			// score starts again, and so does the count toward reduced inspection.
			sw.Score = 0
		case n.Kind == NoteResumed && sw.State == Discontinued:
			to(Tightened, ReasonResumed, n.AfterSeq)
		}
	}
	ni := 0
	for _, lot := range lots {
		for ni < len(notes) && notes[ni].AfterSeq < lot.Seq {
			note(notes[ni])
			ni++
		}
		if lot.Result == Pending {
			continue
		}
		switch sw.State {
		case Normal:
			window = append(window, lot.Result)
			last := window[max(0, len(window)-5):]
			sw.RejectedOfLastFive = 0
			for _, r := range last {
				if r == Rejected {
					sw.RejectedOfLastFive++
				}
			}
			if sw.RejectedOfLastFive >= 2 {
				to(Tightened, ReasonTwoOfFive, lot.Seq)
				continue
			}
			sw.Score = scoreStep(sw.Score, lot)
			if sw.Score >= 30 && reducedAllowed {
				to(Reduced, ReasonScore, lot.Seq)
			}
		case Tightened:
			if lot.Result == Rejected {
				sw.AcceptedInRow = 0
				sw.RejectedOnTightened++
				if sw.RejectedOnTightened >= 5 {
					to(Discontinued, ReasonFiveRejected, lot.Seq)
				}
				continue
			}
			sw.AcceptedInRow++
			if sw.AcceptedInRow >= 5 {
				to(Normal, ReasonFiveAccepted, lot.Seq)
			}
		case Reduced:
			if lot.Result == Rejected {
				to(Normal, ReasonReducedRejected, lot.Seq)
			}
		case Discontinued:
			// No batch is closed while discontinued; one closed before the switch but decided
			// after it changes nothing until the inspection resumes.
		}
	}
	for ; ni < len(notes); ni++ {
		note(notes[ni])
	}
	return sw
}
