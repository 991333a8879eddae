// Package honeypot holds what gold items (honeypots) are made of and the rules around them:
// which answers are valid, whether a judgment got one right, when a claim is dealt a gold
// item, and when a trainer's accuracy pauses them. It is pure: package campaign, which owns
// claims, applies it inside its transactions.
package honeypot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mentor-ai/mentor/errs"
)

// The kinds of known answer a gold item can have.
const (
	Best     = "best"     // one candidate is the best, alone in first place
	Ordering = "ordering" // the candidates' order (ties allowed in the answer)
	Defect   = "defect"   // a candidate carries a flag the trainer must put on it
)

// Kinds lists every kind.
var Kinds = []string{Best, Ordering, Defect}

// Answer is a gold item's known answer.
type Answer struct {
	Kind        string    `json:"kind"`                   // best, ordering or defect
	CandidateID int64     `json:"candidate_id,omitempty"` // best and defect: the candidate
	Ranking     [][]int64 `json:"ranking,omitempty"`      // ordering: candidate ids, best first; ties share a group
	Flag        string    `json:"flag,omitempty"`         // defect: the flag the candidate must get
}

// Validate checks the answer against the item's candidates and the flags trainers can set,
// naming the field that is wrong.
func (a Answer) Validate(candidates []int64, flags []string) error {
	switch a.Kind {
	case Best:
		if !slices.Contains(candidates, a.CandidateID) {
			return errs.Field("answer.candidate_id", "name one of this item's candidates (%s), got %d", ids(candidates), a.CandidateID)
		}
	case Defect:
		if !slices.Contains(candidates, a.CandidateID) {
			return errs.Field("answer.candidate_id", "name one of this item's candidates (%s), got %d", ids(candidates), a.CandidateID)
		}
		if !slices.Contains(flags, a.Flag) {
			return errs.Field("answer.flag", "must be one of %s, got %q", strings.Join(flags, ", "), a.Flag)
		}
	case Ordering:
		seen := map[int64]bool{}
		for i, group := range a.Ranking {
			if len(group) == 0 {
				return errs.Field(fmt.Sprintf("answer.ranking[%d]", i), "an empty place: remove it")
			}
			for _, id := range group {
				if !slices.Contains(candidates, id) {
					return errs.Field(fmt.Sprintf("answer.ranking[%d]", i), "%d is not one of this item's candidates (%s)", id, ids(candidates))
				}
				if seen[id] {
					return errs.Field(fmt.Sprintf("answer.ranking[%d]", i), "candidate %d is ranked twice", id)
				}
				seen[id] = true
			}
		}
		if len(seen) != len(candidates) {
			return errs.Field("answer.ranking", "rank all %d candidates, got %d", len(candidates), len(seen))
		}
		if len(a.Ranking) < 2 {
			return errs.Field("answer.ranking", "an ordering with every candidate tied checks nothing: put at least one above another")
		}
	default:
		return errs.Field("answer.kind", "must be one of best, ordering or defect, got %q", a.Kind)
	}
	return nil
}

func ids(c []int64) string {
	s := ""
	for i, id := range c {
		if i > 0 {
			s += ", "
		}
		s += strconv.FormatInt(id, 10)
	}
	return s
}

// Correct says whether a judgment (its ranking, best first, and its flags per candidate id)
// got the answer right. For an ordering, every pair the answer puts one above the other must
// be in that order in the judgment; pairs the answer ties are not checked.
func (a Answer) Correct(ranking [][]int64, flags map[string][]string) bool {
	switch a.Kind {
	case Best:
		return len(ranking) > 0 && len(ranking[0]) == 1 && ranking[0][0] == a.CandidateID
	case Defect:
		return slices.Contains(flags[strconv.FormatInt(a.CandidateID, 10)], a.Flag)
	case Ordering:
		place := places(ranking)
		gold := places(a.Ranking)
		for x, gx := range gold {
			for y, gy := range gold {
				if gx < gy {
					px, okx := place[x]
					py, oky := place[y]
					if !okx || !oky || px >= py {
						return false
					}
				}
			}
		}
		return true
	}
	return false
}

// places gives each candidate the index of its group.
func places(ranking [][]int64) map[int64]int {
	out := map[int64]int{}
	for i, g := range ranking {
		for _, id := range g {
			out[id] = i
		}
	}
	return out
}

// FirstItems is how many of a trainer's first items in a campaign get the doubled rate: new
// trainers are checked more before their work is trusted.
const FirstItems = 50

// MaxRate is the highest honeypot rate a campaign may set.
const MaxRate = 0.5

// RateFor is the share of claims that are gold for a trainer who has claimed n items in the
// campaign: rate, doubled (at most MaxRate) for the first FirstItems. With the default 5%
// that is 10% at first, as the issue asks.
func RateFor(rate float64, n int) float64 {
	if n < FirstItems {
		return min(MaxRate, 2*rate)
	}
	return rate
}

// Dealt says whether a trainer's n-th claim (0-based) in a campaign is a gold item. It is a
// keyed hash of the three, not a counter: the gold items are spread at the rate over any
// stretch of work, yet a trainer cannot tell which claim will be one (the key, a campaign's
// secret seed, is never shown), and a retried claim decision comes out the same.
func Dealt(seed uint64, trainerID int64, n int, rate float64) bool {
	if rate <= 0 {
		return false
	}
	h := mix(seed ^ mix(uint64(trainerID)^mix(uint64(n)+0x9e3779b97f4a7c15)))
	return float64(h>>11)/(1<<53) < RateFor(rate, n)
}

// mix is SplitMix64's finaliser: every input bit moves every output bit.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Policy is when honeypot accuracy pauses a trainer: below Threshold over the last Window
// gold items, once they have done at least Min.
type Policy struct {
	Threshold float64
	Window    int
	Min       int
}

// DefaultPolicy is the issue's: 70% over the last 20 gold items, after at least 10.
var DefaultPolicy = Policy{Threshold: 0.7, Window: 20, Min: 10}

// Judge reads a trainer's gold results, newest first, and says their accuracy over the
// window and whether it pauses them.
func (p Policy) Judge(newestFirst []bool) (accuracy float64, n int, pause bool) {
	recent := newestFirst[:min(len(newestFirst), p.Window)]
	n = len(recent)
	if n == 0 {
		return 0, 0, false
	}
	right := 0
	for _, ok := range recent {
		if ok {
			right++
		}
	}
	accuracy = float64(right) / float64(n)
	return accuracy, n, n >= p.Min && accuracy < p.Threshold
}
