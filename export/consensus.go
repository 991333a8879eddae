package export

import (
	"fmt"

	"github.com/mentor-ai/mentor/rlhf"
)

// Consensus mode (issue 14): a preference pair is kept when the item's judgments, each
// weighted by its trainer's reliability, mostly put the pair's chosen side above its
// rejected one. One trainer's ranking makes a pair; consensus asks whether the others who
// ranked the same two candidates agree.

// votersSQL gathers, for each judgment of the pairs source, the latest revision (as of $2) of
// every trainer's judgment of the same turn, with the trainer's leave-one-out agreement from
// the last agreement refresh of the turn's campaign. Side-swap repeats are checks of the
// trainer, not votes. It is a lateral join the planner skips (a one-time filter on $17)
// unless consensus mode is on.
const votersSQL = `LEFT JOIN LATERAL (
			SELECT jsonb_agg(jsonb_build_object('judgment', v.id, 'ranking', v.ranking, 'loo', v.loo) ORDER BY v.trainer_id) AS voters
			FROM (
				SELECT DISTINCT ON (j.trainer_id) j.id, j.trainer_id, j.ranking,
					(SELECT f.value FROM campaign_items ci JOIN agreement_figures f ON f.campaign_id = ci.campaign_id
						AND f.scope = 'trainer' AND f.scope_id = j.trainer_id AND f.measure = 'loo'
					WHERE ci.turn_id = j.turn_id) AS loo
				FROM judgments j
				WHERE $17 AND j.turn_id = jd.turn_id AND j.created_at <= $2 AND ` + rlhf.DataSQL + `
				ORDER BY j.trainer_id, j.revision DESC
			) v
		) vt ON true`

// voter is one trainer's latest judgment of a turn, as consensus mode reads it.
type voter struct {
	Judgment int64     `json:"judgment"`
	Ranking  [][]int64 `json:"ranking"`
	LOO      *float64  `json:"loo"` // nil: the refresh had too little to say, or the turn is in no campaign
}

// reliability is a voter's weight: the leave-one-out agreement (Spearman's ρ, −1 to 1)
// mapped onto 0 to 1, so a trainer who ranks against the others counts for nothing and one
// who always agrees counts fully. A trainer without a figure counts as ρ = 0, a half vote:
// neither trusted nor discounted.
func reliability(loo *float64) float64 {
	if loo == nil {
		return 0.5
	}
	w := (1 + *loo) / 2
	return min(max(w, 0), 1)
}

// Consensus is what consensus mode decided, for the manifest.
type Consensus struct {
	Kept    int        `json:"kept"`    // pairs the weighted majority agreed with
	Dropped int        `json:"dropped"` // pairs it did not, or that too few judgments ranked
	Votes   []PairVote `json:"votes"`   // every pair considered, in the order they were read
}

// PairVote is the vote on one stored preference pair.
type PairVote struct {
	PairID     int64 `json:"pair_id"`
	JudgmentID int64 `json:"judgment_id"` // the judgment the pair was derived from
	// Voters is how many of the item's judgments ranked both sides of the pair. A pair with a
	// trainer's edit or gold reply as its chosen side has none but its own, so it is dropped.
	Voters  int     `json:"voters"`
	For     float64 `json:"for"`     // summed weight of the voters who put the chosen side above the rejected
	Against float64 `json:"against"` // summed weight of those who put it level or below
	Kept    bool    `json:"kept"`
}

// minVoters is how many judgments must rank both sides for a consensus: one judgment agrees
// with itself, which says nothing.
const minVoters = 2

// keep tallies the votes on pair pairID of record t, whose chosen side is candidate
// chosenID (0: a human reply) and rejected side candidate rejectedID, and records them.
func (c *Consensus) keep(t turnRecord, pairID, chosenID, rejectedID int64) bool {
	v := PairVote{PairID: pairID, JudgmentID: t.JudgmentID}
	if chosenID != 0 {
		for _, vt := range t.Voters {
			pc, pr := place(vt.Ranking, chosenID), place(vt.Ranking, rejectedID)
			if pc < 0 || pr < 0 {
				continue
			}
			v.Voters++
			if pc < pr {
				v.For += reliability(vt.LOO)
			} else {
				v.Against += reliability(vt.LOO)
			}
		}
	}
	v.For, v.Against = roundMargin(v.For), roundMargin(v.Against)
	v.Kept = v.Voters >= minVoters && v.For > v.Against
	if v.Kept {
		c.Kept++
	} else {
		c.Dropped++
	}
	c.Votes = append(c.Votes, v)
	return v.Kept
}

// place is the index of the ranking's group holding candidate id, or -1.
func place(ranking [][]int64, id int64) int {
	for i, g := range ranking {
		for _, c := range g {
			if c == id {
				return i
			}
		}
	}
	return -1
}

// consensusCard is the dataset card's line on consensus mode; the votes are in the manifest.
func consensusCard(c *Consensus) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("Consensus mode: of %d preference pairs considered, %d were kept because the item's judgments, weighted by each trainer's reliability (leave-one-out agreement), mostly agreed with them, and %d were left out. manifest.json lists every vote.\n\n",
		c.Kept+c.Dropped, c.Kept, c.Dropped)
}
