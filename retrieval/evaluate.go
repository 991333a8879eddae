package retrieval

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Scored is one retrieved passage and its score, for evaluation.
type Scored struct {
	ID    int64
	Score float64
}

// QueryMetrics are one query's figures at a cutoff k.
type QueryMetrics struct {
	Recall float64 `json:"recall"`
	NDCG   float64 `json:"ndcg"`
	RR     float64 `json:"rr"` // reciprocal rank of the first relevant passage in the top k; 0 if none
}

// Measure computes recall@k, nDCG@k and the reciprocal rank of one query's results against
// its relevance grades, with trec_eval's conventions: results are ordered by score
// descending with ties broken by id descending; the gain of a passage is its grade (0 when
// unjudged); the discount at rank r is 1/log2(r + 1); the ideal ordering takes every judged
// grade, best first. ok is false when no passage is relevant (grade > 0): such queries are
// left out of averages, as trec_eval leaves them out.
func Measure(results []Scored, grades map[int64]int, k int) (m QueryMetrics, ok bool) {
	relevant := 0
	var ideal []int
	for _, g := range grades {
		if g > 0 {
			relevant++
			ideal = append(ideal, g)
		}
	}
	if relevant == 0 || k <= 0 {
		return m, false
	}
	ranked := slices.Clone(results)
	slices.SortStableFunc(ranked, func(a, b Scored) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.ID, a.ID))
	})
	ranked = ranked[:min(k, len(ranked))]
	var dcg, idcg float64
	found := 0
	for i, r := range ranked {
		g := grades[r.ID]
		if g <= 0 {
			continue
		}
		found++
		dcg += float64(g) / math.Log2(float64(i+2))
		if m.RR == 0 {
			m.RR = 1 / float64(i+1)
		}
	}
	slices.SortFunc(ideal, func(a, b int) int { return cmp.Compare(b, a) })
	for i, g := range ideal[:min(k, len(ideal))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	m.Recall = float64(found) / float64(relevant)
	m.NDCG = dcg / idcg
	return m, true
}

// EvalConfig is a retrieval configuration to evaluate.
type EvalConfig struct {
	Name   string `json:"name"`
	K      int    `json:"k"`
	Fusion Fusion `json:"fusion"`
}

// EvalResult is a configuration's mean figures over a corpus's labelled queries.
type EvalResult struct {
	Config  EvalConfig `json:"config"`
	Queries int        `json:"queries"` // labelled queries with at least one relevant passage
	Skipped int        `json:"skipped"` // labelled queries whose marks are all irrelevant
	Recall  float64    `json:"recall"`
	NDCG    float64    `json:"ndcg"`
	MRR     float64    `json:"mrr"`
}

// LabelledQuery is a turn's question with the grades trainers gave its passages.
type LabelledQuery struct {
	TurnID int64
	Text   string
	Grades map[int64]int
}

// LabelledQueries returns the corpus's labelled queries: each turn with relevance marks on
// the corpus's chunks, its user message as the query, and per chunk the mean of its
// trainers' grades, rounded half up.
func (s *Store) LabelledQueries(ctx context.Context, corpusID int64) ([]LabelledQuery, error) {
	rows, _ := s.pool.Query(ctx, `WITH latest AS (
			SELECT DISTINCT ON (r.turn_id, r.trainer_id, r.chunk_id) r.turn_id, r.chunk_id, r.grade
			FROM relevance_marks r JOIN chunks c ON c.id = r.chunk_id WHERE c.corpus_id = $1
			ORDER BY r.turn_id, r.trainer_id, r.chunk_id, r.id DESC)
		SELECT t.id, m.content, l.chunk_id, round(avg(l.grade))::int
		FROM latest l JOIN turns t ON t.id = l.turn_id JOIN messages m ON m.id = t.user_message_id
		GROUP BY t.id, m.content, l.chunk_id ORDER BY t.id, l.chunk_id`, corpusID)
	var out []LabelledQuery
	var turnID, chunkID int64
	var text string
	var grade int
	_, err := pgx.ForEachRow(rows, []any{&turnID, &text, &chunkID, &grade}, func() error {
		if len(out) == 0 || out[len(out)-1].TurnID != turnID {
			out = append(out, LabelledQuery{TurnID: turnID, Text: text, Grades: map[int64]int{}})
		}
		out[len(out)-1].Grades[chunkID] = grade
		return nil
	})
	return out, db.Error(err, "labelled queries of corpus %d", corpusID)
}

// Evaluate runs every configuration over the corpus's labelled queries and averages the
// figures, so that two configurations compare on the same queries.
func (s *Store) Evaluate(ctx context.Context, corpusID int64, configs []EvalConfig) ([]EvalResult, error) {
	if len(configs) == 0 || len(configs) > 8 {
		return nil, errs.Field("configs", "give 1 to 8 configurations, not %d", len(configs))
	}
	queries, err := s.LabelledQueries(ctx, corpusID)
	if err != nil {
		return nil, err
	}
	out := make([]EvalResult, len(configs))
	for i, cfg := range configs {
		if cfg.Fusion == (Fusion{}) {
			cfg.Fusion = DefaultFusion
		}
		res := EvalResult{Config: cfg}
		for _, q := range queries {
			ps, err := s.Search(ctx, Query{CorpusIDs: []int64{corpusID}, Text: q.Text, K: cfg.K, Fusion: cfg.Fusion})
			if err != nil {
				return nil, errs.Wrap(errs.KindOf(err), err, "configuration %d (%s): %s", i+1, cfg.Name, err)
			}
			scored := make([]Scored, len(ps))
			for j, p := range ps {
				scored[j] = Scored{ID: p.ChunkID, Score: p.Score}
			}
			m, ok := Measure(scored, q.Grades, cfg.K)
			if !ok {
				res.Skipped++
				continue
			}
			res.Queries++
			res.Recall += m.Recall
			res.NDCG += m.NDCG
			res.MRR += m.RR
		}
		if res.Queries > 0 {
			n := float64(res.Queries)
			res.Recall, res.NDCG, res.MRR = res.Recall/n, res.NDCG/n, res.MRR/n
		}
		out[i] = res
	}
	return out, nil
}
