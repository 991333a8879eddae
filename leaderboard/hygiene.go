package leaderboard

import (
	"cmp"
	"math"
	"slices"
)

// Alpha is the false-alarm rate of the voter test: a voter who votes as the fitted model
// expects is flagged with probability at most Alpha, however long they vote.
const Alpha = 0.05

// Voter is one trainer's record: how their votes sit with the fitted model, and how often
// they put the candidate shown first (the left pane) on top in blind campaigns.
type Voter struct {
	Trainer int64  `json:"trainer_id"`
	Login   string `json:"login"`
	Votes   int    `json:"votes"` // decided votes (not ties) between entries of one part
	// Evidence is the largest value the voter's test statistic reached: the running
	// product of (alternative ÷ model) likelihoods of their choices. Under the model its
	// expectation stays 1, so by Ville's inequality it reaches 1/Alpha with probability at
	// most Alpha.
	Evidence float64 `json:"evidence"`
	Flagged  bool    `json:"flagged"` // Evidence reached 1/Alpha: improbable against the model
	// Decided counts their blind-campaign judgments with a single best candidate;
	// FirstChosen, those where it was the one shown first; FirstExpected is the share
	// expected by chance (the mean of 1/candidates).
	Decided       int     `json:"decided"`
	FirstChosen   int     `json:"first_chosen"`
	FirstRate     float64 `json:"first_rate"`
	FirstExpected float64 `json:"first_expected"`
}

// Position is what the position check needs from one blind judgment.
type Position struct {
	Trainer    int64
	Candidates int  // how many candidates were shown
	First      bool // the single best candidate was the one shown first
}

// Screen runs the sequential test over each trainer's votes in order, against the board's
// fit, and counts first-position choices. This is the idea of Chatbot Arena's anomalous-
// user detection (a sequential test on how likely each vote is under the fitted model),
// done as a test martingale: for each decided vote with model probability p of the choice
// made, the statistic is multiplied by q/p, where the alternative q is half a coin flip and
// half a contrarian who picks the side the model disfavours (q = ½·½ + ½·(1−p)).
func Screen(f *fitted, votes []Vote, positions []Position, logins map[int64]string) []Voter {
	by := map[int64]*Voter{}
	get := func(t int64) *Voter {
		v := by[t]
		if v == nil {
			v = &Voter{Trainer: t, Login: logins[t], Evidence: 1}
			by[t] = v
		}
		return v
	}
	running := map[int64]float64{}
	if f != nil {
		index := make(map[string]int, len(f.keys))
		for i, k := range f.keys {
			index[k] = i
		}
		for _, vt := range votes {
			if vt.Outcome == 0 {
				continue
			}
			a, ok1 := index[vt.A]
			b, ok2 := index[vt.B]
			if !ok1 || !ok2 || a == b {
				continue
			}
			pa, okA := f.partOf[a]
			pb, okB := f.partOf[b]
			if !okA || !okB || pa != pb {
				continue
			}
			pA := 1 / (1 + math.Exp(f.theta[b]-f.theta[a]))
			p := pA
			if vt.Outcome < 0 {
				p = 1 - pA
			}
			p = math.Min(math.Max(p, 1e-6), 1-1e-6)
			v := get(vt.Trainer)
			v.Votes++
			e, ok := running[vt.Trainer]
			if !ok {
				e = 1
			}
			e *= (0.25 + 0.5*(1-p)) / p
			running[vt.Trainer] = e
			v.Evidence = math.Max(v.Evidence, e)
		}
	}
	expected := map[int64]float64{}
	for _, p := range positions {
		v := get(p.Trainer)
		v.Decided++
		if p.First {
			v.FirstChosen++
		}
		if p.Candidates > 0 {
			expected[p.Trainer] += 1 / float64(p.Candidates)
		}
	}
	out := make([]Voter, 0, len(by))
	for _, v := range by {
		v.Flagged = v.Evidence >= 1/Alpha
		v.Evidence = round(v.Evidence, 3)
		if v.Decided > 0 {
			v.FirstRate = round(float64(v.FirstChosen)/float64(v.Decided), 4)
			v.FirstExpected = round(expected[v.Trainer]/float64(v.Decided), 4)
		}
		out = append(out, *v)
	}
	slices.SortFunc(out, func(x, y Voter) int {
		return cmp.Or(cmp.Compare(y.Evidence, x.Evidence), cmp.Compare(x.Login, y.Login))
	})
	return out
}
