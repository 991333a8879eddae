package agreement

// The refresh's former implementation, which read one row per judgment and computed every
// figure in Go. It stays as the reference the SQL aggregation (aggregate.go) is checked
// against, figure by figure, in TestAggregateMatchesTheGoReference.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/rlhf"
)

// judgment is one trainer's latest revision of one item, as the refresh reads it.
type judgment struct {
	item, trainer, base int64
	ranking             [][]int64
	flags               map[string][]string
	ratings             map[string]map[string]struct {
		Value int `json:"value"`
	}
}

// load reads each trainer's latest revision of each ordinary item of the campaign. Campaign
// items' turns are judged only through claims, so the turn's judgments are the claims'. The
// flattening to numbers happens in Go: one row per judgment is far less to send than one
// per candidate, flag and score, and rankings are parsed by hand (parseRanking), which is
// most of what a refresh of 100,000 judgments would otherwise spend in encoding/json.
func load(ctx context.Context, tx pgx.Tx, campaignID int64) ([]judgment, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (j.turn_id, j.trainer_id) i.id, j.trainer_id, coalesce(bm.base_id, 0), j.ranking::text, j.flags::text, j.ratings::text
		FROM campaign_items i JOIN judgments j ON j.turn_id = i.turn_id LEFT JOIN base_members bm ON bm.user_id = j.trainer_id
		WHERE i.campaign_id = $1 AND NOT i.gold AND `+rlhf.DataSQL+` -- side-swap repeats are checks, not votes
		ORDER BY j.turn_id, j.trainer_id, j.revision DESC`, campaignID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []judgment
	var ranking, flags, ratings string
	for rows.Next() {
		var j judgment
		if err := rows.Scan(&j.item, &j.trainer, &j.base, &ranking, &flags, &ratings); err != nil {
			return nil, err
		}
		if j.ranking, err = parseRanking(ranking); err != nil {
			return nil, fmt.Errorf("ranking of item %d by %d: %w", j.item, j.trainer, err)
		}
		if flags != "{}" {
			if err := json.Unmarshal([]byte(flags), &j.flags); err != nil {
				return nil, fmt.Errorf("flags of item %d by %d: %w", j.item, j.trainer, err)
			}
		}
		if ratings != "{}" {
			if err := json.Unmarshal([]byte(ratings), &j.ratings); err != nil {
				return nil, fmt.Errorf("ratings of item %d by %d: %w", j.item, j.trainer, err)
			}
		}
		out = append(out, j)
	}
	// Rows come by turn; compute wants each item's judgments together, which they are.
	return out, rows.Err()
}

// parseRanking reads a stored ranking, [[id, …], …], as PostgreSQL prints jsonb.
func parseRanking(s string) ([][]int64, error) {
	var out [][]int64
	var group []int64
	depth := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '[':
			depth++
			if depth == 2 {
				group = nil
			} else if depth > 2 {
				return nil, fmt.Errorf("nested too deep at %d", i)
			}
		case ch == ']':
			if depth == 2 {
				out = append(out, group)
			}
			depth--
		case ch >= '0' && ch <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			id, err := strconv.ParseInt(s[i:j], 10, 64)
			if err != nil || depth != 2 {
				return nil, fmt.Errorf("unexpected %q at %d", s[i:j], i)
			}
			group = append(group, id)
			i = j - 1
		case ch == ',' || ch == ' ':
		default:
			return nil, fmt.Errorf("unexpected %q at %d", ch, i)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced brackets")
	}
	return out, nil
}

// compute turns the judgments (sorted by item) into every figure a refresh writes.
func compute(js []judgment) figures {
	out := figures{bases: map[int64]map[string]figure{}, trainers: map[int64]map[string]figure{}}
	var ranked, flagged, rated unitSet
	baseRanked := map[int64]*unitSet{}
	loo := map[int64]*[2]float64{} // trainer: Σρ, items
	var sumW float64
	for start := 0; start < len(js); {
		end := start
		for end < len(js) && js[end].item == js[start].item {
			end++
		}
		group := js[start:end]
		start = end
		cands := commonCandidates(group)
		places := make([][]float64, len(group))
		for t, j := range group {
			p := placeOf(j.ranking)
			places[t] = make([]float64, len(cands))
			for i, c := range cands {
				places[t][i] = p[c]
			}
		}
		// α units: each candidate's place, each flag on each candidate, each score.
		for i, c := range cands {
			vals := make([]float64, len(group))
			for t := range group {
				vals[t] = places[t][i]
			}
			ranked.add(vals)
			byBase := map[int64][]float64{}
			for t, j := range group {
				if j.base != 0 {
					byBase[j.base] = append(byBase[j.base], vals[t])
				}
			}
			for b, v := range byBase {
				if baseRanked[b] == nil {
					baseRanked[b] = &unitSet{}
				}
				baseRanked[b].add(v)
			}
			key := strconv.FormatInt(c, 10)
			for _, f := range rlhf.Flags {
				v := make([]float64, len(group))
				for t, j := range group {
					if slices.Contains(j.flags[key], f) {
						v[t] = 1
					}
				}
				flagged.add(v)
			}
			dims := map[string][]float64{}
			for _, j := range group {
				for dim, s := range j.ratings[key] {
					dims[dim] = append(dims[dim], float64(s.Value))
				}
			}
			for _, v := range dims {
				rated.add(v)
			}
		}
		if w, ok := KendallW(places); ok {
			out.items = append(out.items, itemW{item: group[0].item, w: w, judgments: len(group)})
			sumW += w
		}
		// Leave-one-out: each trainer against the others' mean place.
		if len(group) >= 2 && len(cands) >= 2 {
			for t, j := range group {
				others := make([]float64, len(cands))
				for u := range group {
					if u != t {
						for i := range cands {
							others[i] += places[u][i]
						}
					}
				}
				if rho, ok := Spearman(places[t], others); ok {
					if loo[j.trainer] == nil {
						loo[j.trainer] = &[2]float64{}
					}
					loo[j.trainer][0] += rho
					loo[j.trainer][1]++
				}
			}
		}
	}
	out.campaign = map[string]figure{
		AlphaRanking: ranked.alpha(Ordinal),
		AlphaFlags:   flagged.alpha(Nominal),
		AlphaRatings: rated.alpha(Ordinal),
	}
	if len(out.items) > 0 {
		m := sumW / float64(len(out.items))
		out.campaign[MeanW] = figure{value: &m, units: len(out.items)}
	} else {
		out.campaign[MeanW] = figure{}
	}
	for b, u := range baseRanked {
		out.bases[b] = map[string]figure{AlphaRanking: u.alpha(Ordinal)}
	}
	for t, s := range loo {
		v := s[0] / s[1]
		out.trainers[t] = map[string]figure{LOO: {value: &v, units: int(s[1])}}
	}
	return out
}

// unitSet collects α's units.
type unitSet struct{ units [][]float64 }

func (u *unitSet) add(values []float64) {
	if len(values) >= 2 {
		u.units = append(u.units, values)
	}
}

func (u *unitSet) alpha(l Level) figure {
	a, n, ok := Alpha(l, u.units)
	if !ok {
		return figure{units: n}
	}
	return figure{value: &a, units: n}
}

// commonCandidates are the candidates every judgment of an item ranked, in id order: W and α
// compare like with like.
func commonCandidates(group []judgment) []int64 {
	count := map[int64]int{}
	for _, j := range group {
		for _, g := range j.ranking {
			for _, c := range g {
				count[c]++
			}
		}
	}
	var out []int64
	for c, n := range count {
		if n == len(group) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// placeOf gives each candidate its place, 1 for the best; tied candidates share one.
func placeOf(ranking [][]int64) map[int64]float64 {
	out := map[int64]float64{}
	for i, g := range ranking {
		for _, c := range g {
			out[c] = float64(i + 1)
		}
	}
	return out
}
