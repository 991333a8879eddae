// Package rlhf turns trainers' judgments into training data. This file holds the rules that
// derive preference pairs from one judgment; docs/derivation.md states them for ML teams.
package rlhf

import (
	"fmt"
	"math"
	"slices"

	"github.com/mentor-ai/mentor/errs"
)

// Judgment is what a trainer decided about one turn's candidates, as the derivation sees it.
type Judgment struct {
	// Ranking lists the candidates best first; candidates in one group are tied.
	Ranking [][]int64
	// Ratings holds rubric scores per candidate per dimension, already on a 0..1 scale
	// (see Normalize); a missing candidate or dimension is simply not rated.
	Ratings map[int64]map[string]float64
	// Edited is the human-corrected version of one candidate, if any.
	Edited *Edit
	// Gold is a reply written from scratch ("all are bad"), if any.
	Gold *Reply
}

// Edit is a corrected candidate.
type Edit struct {
	Original int64 // candidate id
	Reply    Reply
}

// Reply is a human-authored message.
type Reply struct {
	MessageID int64
}

// Side of a pair: a candidate, or a human-authored message.
type Side struct {
	CandidateID int64 `json:"candidate_id,omitempty"`
	MessageID   int64 `json:"message_id,omitempty"`
}

// Rule says which rule produced a pair.
type Rule string

// The rules, in the order pairs are produced.
const (
	RuleRanking Rule = "ranking" // a better-ranked candidate over a worse-ranked one
	RuleEdit    Rule = "edit"    // the trainer's correction over the candidate it corrects
	RuleGold    Rule = "gold"    // a gold reply over every candidate
)

// Pair is one preference: Chosen ≻ Rejected, with a margin saying how strongly.
type Pair struct {
	Chosen   Side    `json:"chosen"`
	Rejected Side    `json:"rejected"`
	Rule     Rule    `json:"rule"`
	Margin   float64 `json:"margin"`
}

// Margin weights. A margin feeds RewardTrainer's loss, -logsigmoid(r_chosen - r_rejected -
// margin), so it is on the scale of reward differences: 0.5 per rank step, plus the rubric
// difference (0..1), and a full point for a human correction.
const (
	perRankStep  = 0.5
	humanOverAll = 1.0
)

// Validate checks a ranking against the turn's candidates: each must appear exactly once.
func (j Judgment) Validate(candidates []int64) error {
	seen := map[int64]bool{}
	for gi, group := range j.Ranking {
		if len(group) == 0 {
			return errs.E(errs.Unprocessable, "ranking[%d] is an empty group", gi)
		}
		for _, c := range group {
			if !slices.Contains(candidates, c) {
				return errs.E(errs.Unprocessable, "ranking names candidate %d, which is not in this turn", c)
			}
			if seen[c] {
				return errs.E(errs.Unprocessable, "ranking names candidate %d twice", c)
			}
			seen[c] = true
		}
	}
	for _, c := range candidates {
		if !seen[c] {
			return errs.E(errs.Unprocessable, "ranking misses candidate %d", c)
		}
	}
	if j.Edited != nil && !slices.Contains(candidates, j.Edited.Original) {
		return errs.E(errs.Unprocessable, "the edit corrects candidate %d, which is not in this turn", j.Edited.Original)
	}
	return nil
}

// Derive returns the judgment's preference pairs, in a stable order: ranking pairs (best
// group first, then by candidate order within groups), then the edit, then gold pairs.
// Ties produce no pair. Call Validate first.
func Derive(j Judgment) []Pair {
	var out []Pair
	score := func(c int64) (float64, bool) {
		r := j.Ratings[c]
		if len(r) == 0 {
			return 0, false
		}
		var sum float64
		for _, v := range r {
			sum += v
		}
		return sum / float64(len(r)), true
	}
	for gi, better := range j.Ranking {
		for gj := gi + 1; gj < len(j.Ranking); gj++ {
			for _, a := range better {
				for _, b := range j.Ranking[gj] {
					m := perRankStep * float64(gj-gi)
					if sa, ok := score(a); ok {
						if sb, ok := score(b); ok {
							m += math.Max(0, sa-sb)
						}
					}
					out = append(out, Pair{Chosen: Side{CandidateID: a}, Rejected: Side{CandidateID: b}, Rule: RuleRanking, Margin: round(m)})
				}
			}
		}
	}
	if j.Edited != nil {
		out = append(out, Pair{Chosen: Side{MessageID: j.Edited.Reply.MessageID}, Rejected: Side{CandidateID: j.Edited.Original},
			Rule: RuleEdit, Margin: humanOverAll})
	}
	if j.Gold != nil {
		for gi, group := range j.Ranking {
			for _, c := range group {
				out = append(out, Pair{Chosen: Side{MessageID: j.Gold.MessageID}, Rejected: Side{CandidateID: c},
					Rule: RuleGold, Margin: round(humanOverAll + perRankStep*float64(gi))})
			}
		}
	}
	return out
}

// Normalize maps a rating on a scale min..max to 0..1, refusing values off the scale.
func Normalize(dimension string, value, min, max int) (float64, error) {
	if max <= min {
		return 0, fmt.Errorf("dimension %s has an empty scale %d..%d", dimension, min, max)
	}
	if value < min || value > max {
		return 0, errs.E(errs.Unprocessable, "rating for %s must be between %d and %d, got %d", dimension, min, max, value)
	}
	return float64(value-min) / float64(max-min), nil
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }
