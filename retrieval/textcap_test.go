package retrieval_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// TestFullTextFallsBackToThreeTermsWhenPairsMatchTooMany holds the stricter fallback (issue
// 17): four terms each in 62% of a corpus's chunks, independently, so that any one of them
// is over TextMatchBudget and so is any pair (expected 0.38·N = 1,150 of 3,000), but a triple
// is not (0.24·N = 715). The full-text list must then rank only the chunks holding the three
// rarest, fewer than TextRankCap, where the pairs' fallback stopped at the cap with whichever
// 1,000 chunks the scan found first. Along the way, corpora.current_chunks, which the
// estimate divides by, must follow the chunks through a new version of a document.
func TestFullTextFallsBackToThreeTermsWhenPairsMatchTooMany(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "common-pairs"})
	ctx := context.Background()
	words := []string{"alpha", "bravo", "charlie", "delta"}
	const n = 3000
	holds := func(doc, word int) bool { // a fixed pseudo-random 62% of the documents, apart per word
		h := uint32(doc)*2654435761 ^ uint32(word+1)*40503
		h ^= h >> 13
		h *= 0x5bd1e995
		h ^= h >> 15
		return h%100 < 62
	}
	var docs []retrieval.DocumentInput
	for i := range n {
		body := []string{fmt.Sprintf("filler%d", i)}
		for w, word := range words {
			if holds(i, w) {
				body = append(body, word)
			}
		}
		docs = append(docs, retrieval.DocumentInput{Slug: fmt.Sprintf("d%d", i), Lang: "en", Title: fmt.Sprintf("note %d", i), Body: strings.Join(body, " ")})
	}
	for i := 0; i < len(docs); i += 500 {
		for _, r := range s.IngestBatch(ctx, c, docs[i:i+500]) {
			require.NoError(t, r.Err)
		}
	}
	// A new version of document 0 retires its chunk (and its terms): the count must not grow.
	res, err := s.Ingest(ctx, c, retrieval.DocumentInput{Slug: "d0", Lang: "en", Title: "note 0", Body: "filler0 revised"})
	require.NoError(t, err)
	require.Equal(t, retrieval.Updated, res.Outcome)
	var stored, current int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_chunks, (SELECT count(*) FROM chunks WHERE corpus_id = $1 AND current)
		FROM corpora WHERE id = $1`, c.ID).Scan(&stored, &current))
	assert.Equal(t, current, stored, "corpora.current_chunks against the chunks")
	require.EqualValues(t, n, current, "one chunk a document")

	// What the statement should see, computed here from the documents (0 holds none now).
	type term struct {
		word string
		w    int
		df   int
	}
	var terms []term
	for w, word := range words {
		count := 0
		for i := 1; i < n; i++ {
			if holds(i, w) {
				count++
			}
		}
		terms = append(terms, term{word, w, count})
	}
	slices.SortFunc(terms, func(a, b term) int { return cmp.Or(cmp.Compare(a.df, b.df), strings.Compare(a.word, b.word)) })
	require.Greater(t, terms[0].df, retrieval.TextMatchBudget, "every term is over the budget alone")
	require.Greater(t, terms[0].df*terms[1].df/n, retrieval.TextMatchBudget, "every pair is expected over the budget")
	rarest := terms[:3]
	triple := 0
	for i := 1; i < n; i++ {
		if holds(i, rarest[0].w) && holds(i, rarest[1].w) && holds(i, rarest[2].w) {
			triple++
		}
	}
	require.Less(t, triple, retrieval.TextRankCap, "the rarest triple matches fewer than the cap, or this tests nothing")

	_, err = pool.Exec(ctx, `ANALYZE chunks`)
	require.NoError(t, err)
	args, err := s.SearchArgs(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: strings.Join(words, " "), K: 10,
		Fusion: retrieval.Fusion{RRFK: 60, TextWeight: 1}}, c.Embedder, c.Dimension, []int64{c.ID})
	require.NoError(t, err)
	var plan []struct{ Plan planNode }
	var raw []byte
	require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+retrieval.TextSQL, retrieval.TextArgs(args)...).Scan(&raw))
	require.NoError(t, json.Unmarshal(raw, &plan))
	// The scan that finds the matches returns the most rows; the join back to chunks for
	// the k' passages returns at most k'.
	var matched float64
	plan[0].Plan.walk(func(n planNode) {
		if n.Relation == "chunks" {
			matched = max(matched, n.Rows*n.Loops)
		}
	})
	assert.EqualValues(t, triple, matched, "the full-text list ranks the chunks holding the three rarest terms, and no others")

	ps, err := s.SearchGroup(ctx, c.Dimension, args)
	require.NoError(t, err)
	require.Len(t, ps, 10)
	for _, p := range ps {
		for _, r := range rarest {
			assert.Contains(t, strings.Fields(p.Text), r.word, "passage %q", p.Text)
		}
	}
}
