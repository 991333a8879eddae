package leaderboard

// Vote is one pairwise outcome between two entries, from one judgment: Outcome is 1 when A
// won, -1 when B won, 0 for a tie.
type Vote struct {
	A, B    string
	Outcome int
	// Style is the style covariates of A's reply against B's (StyleDiff), when the
	// judgment carried Features; zero otherwise.
	Style    [Covariates]float64
	Trainer  int64
	Judgment int64
}

// Judged is one judgment as the board reads it: the latest revision of one trainer's
// judgment of one turn.
type Judged struct {
	ID      int64
	Trainer int64
	Ranking [][]int64                    // candidate ids best first; a group is a tie
	Scores  map[int64]map[string]float64 // candidate → dimension → score on 0..1
	// Features are the candidates' style features, for a style-controlled board; nil
	// otherwise.
	Features map[int64]Features
}

// VotesOf turns a judgment into pairwise votes. Without a dimension, a ranking of N
// candidates gives its C(N,2) pairs: the better-ranked one wins, one group is a tie. With
// a dimension, each pair of candidates both scored on it is a vote: the higher score wins,
// equal scores tie. entryOf maps a candidate to the entry it counts for; candidates without
// one (a model or version outside the board) and pairs of one entry's candidates give no
// vote.
func VotesOf(j Judged, entryOf map[int64]string, dimension string) []Vote {
	var out []Vote
	add := func(a, b int64, outcome int) {
		ea, ok1 := entryOf[a]
		eb, ok2 := entryOf[b]
		if !ok1 || !ok2 || ea == eb {
			return
		}
		v := Vote{A: ea, B: eb, Outcome: outcome, Trainer: j.Trainer, Judgment: j.ID}
		if j.Features != nil {
			v.Style = StyleDiff(j.Features[a], j.Features[b])
		}
		out = append(out, v)
	}
	if dimension == "" {
		for gi, group := range j.Ranking {
			for x, a := range group {
				for _, b := range group[x+1:] {
					add(a, b, 0)
				}
				for _, worse := range j.Ranking[gi+1:] {
					for _, b := range worse {
						add(a, b, 1)
					}
				}
			}
		}
		return out
	}
	var ids []int64
	for _, group := range j.Ranking {
		ids = append(ids, group...)
	}
	for x, a := range ids {
		sa, ok := j.Scores[a][dimension]
		if !ok {
			continue
		}
		for _, b := range ids[x+1:] {
			sb, ok := j.Scores[b][dimension]
			if !ok {
				continue
			}
			switch {
			case sa > sb:
				add(a, b, 1)
			case sa < sb:
				add(a, b, -1)
			default:
				add(a, b, 0)
			}
		}
	}
	return out
}
