package retrieval_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/segment"
)

// TestFullTextReadsAtMostTheCap holds the full-text list's work to TextRankCap chunks when
// even its fallback matches more (issue 17): a question made of the corpus's four commonest
// terms matches most of it, and no scan of chunks in the statement's plan may return more
// than the cap. Before, the match was read whole, and sorted, before it was cut.
func TestFullTextReadsAtMostTheCap(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "common-words"})
	ctx := context.Background()
	docs := corpusgen.Documents(11, 400, 8)
	for i := 0; i < len(docs); i += 200 {
		for _, r := range s.IngestBatch(ctx, c, docs[i:min(i+200, len(docs))]) {
			require.NoError(t, r.Err)
		}
	}
	_, err := pool.Exec(ctx, `ANALYZE chunks`)
	require.NoError(t, err)
	rows, _ := pool.Query(ctx, `SELECT term FROM corpus_terms WHERE corpus_id = $1 AND term ~ '^[一-龥]{2}$'
		ORDER BY chunks DESC, term LIMIT 4`, c.ID)
	var common []string
	for rows.Next() {
		var term string
		require.NoError(t, rows.Scan(&term))
		common = append(common, term)
	}
	require.NoError(t, rows.Err())
	require.Len(t, common, 4)
	query := strings.Join(common, " ")
	require.Equal(t, common, segment.QueryTerms(query), "the question's terms are the four commonest")
	var matched int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE corpus_id = $1 AND current
		AND search @@ to_tsquery('simple', quote_literal($2) || ' & ' || quote_literal($3))`, c.ID, common[0], common[1]).Scan(&matched))
	require.Greater(t, matched, retrieval.TextRankCap, "the fallback must match more than the cap, or this tests nothing")

	args, err := s.SearchArgs(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: query, K: 10, Fusion: retrieval.Fusion{RRFK: 60, TextWeight: 1}},
		c.Embedder, c.Dimension, []int64{c.ID})
	require.NoError(t, err)
	var plan []struct{ Plan planNode }
	var raw []byte
	require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+retrieval.TextSQL, retrieval.TextArgs(args)...).Scan(&raw))
	require.NoError(t, json.Unmarshal(raw, &plan))
	scans := 0
	plan[0].Plan.walk(func(n planNode) {
		if n.Relation == "chunks" {
			scans++
			assert.LessOrEqual(t, n.Rows*n.Loops, float64(retrieval.TextRankCap), "%s on chunks returned %v rows in %v loops", n.Type, n.Rows, n.Loops)
		}
	})
	assert.Positive(t, scans, "the plan reads chunks somewhere")

	ps, err := s.SearchGroup(ctx, c.Dimension, args)
	require.NoError(t, err)
	assert.Len(t, ps, 10, "the capped match still fills k")
}

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan.
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}
