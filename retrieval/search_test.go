package retrieval_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestSearchGroupMatchesTheFusedStatement holds the two lists run at once and fused in Go
// (issue 17) to what the single fused statement they replaced returned, field for field:
// hybrid, each list alone, and with filters, over a generated corpus big enough that common
// terms pass TextMatchBudget and the full-text fallback runs.
func TestSearchGroupMatchesTheFusedStatement(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "generated"})
	ctx := context.Background()
	docs := corpusgen.Documents(42, 400, 8)
	for i := 0; i < len(docs); i += 200 {
		for _, r := range s.IngestBatch(ctx, c, docs[i:min(i+200, len(docs))]) {
			require.NoError(t, r.Err)
		}
	}
	// Without the vector indexes both vector lists are exact. With them, the reference
	// statement's plan reads the corpus's chunks and sorts them (exactly) while SearchGroup's
	// generic plan walks the HNSW graph, which two writers' concurrent inserts build a little
	// differently each run: once in a few hundred comparisons the graph missed a chunk that the
	// exact list had, and the test failed on what it does not test (the fusion and the reads).
	rows, err := pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'chunks' AND indexdef LIKE '%USING hnsw%'`)
	require.NoError(t, err)
	hnsw, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, hnsw)
	for _, name := range hnsw {
		_, err := pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{name}.Sanitize())
		require.NoError(t, err)
	}
	var common int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM corpus_terms WHERE corpus_id = $1 AND chunks >= $2`,
		c.ID, retrieval.TextMatchBudget).Scan(&common))
	require.Positive(t, common, "some terms must be too common for the budget, or the fallback goes untested")
	var someDoc int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT min(id) FROM documents WHERE corpus_id = $1`, c.ID).Scan(&someDoc))

	queries := corpusgen.Queries(7, 40)
	cases := []struct {
		name   string
		fusion retrieval.Fusion
		docs   []int64
		k      int
	}{
		{name: "hybrid", fusion: retrieval.DefaultFusion, k: 10},
		{name: "vector only", fusion: retrieval.Fusion{RRFK: 60, VectorWeight: 1}, k: 10},
		{name: "text only", fusion: retrieval.Fusion{RRFK: 60, TextWeight: 1}, k: 10},
		{name: "weighted, k 30", fusion: retrieval.Fusion{RRFK: 10, VectorWeight: 0.3, TextWeight: 2}, k: 30},
		{name: "document filter", fusion: retrieval.DefaultFusion, docs: []int64{someDoc, someDoc + 1}, k: 5},
	}
	for _, tc := range cases {
		for _, text := range queries {
			q := retrieval.Query{CorpusIDs: []int64{c.ID}, Text: text, K: tc.k, Fusion: tc.fusion, DocumentIDs: tc.docs}
			args, err := s.SearchArgs(ctx, q, c.Embedder, c.Dimension, []int64{c.ID})
			require.NoError(t, err)
			rows, _ := pool.Query(ctx, fusedSQL(c.Dimension), args...)
			want, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieval.Passage, error) {
				var p retrieval.Passage
				err := row.Scan(&p.ChunkID, &p.DocumentID, &p.CorpusID, &p.Version, &p.Position, &p.Slug, &p.Lang, &p.Title,
					&p.HeadingPath, &p.Text, &p.Page, &p.Current, &p.Score, &p.VectorRank, &p.VectorScore, &p.TextRank, &p.TextScore)
				return p, err
			})
			require.NoError(t, err)
			got, err := s.SearchGroup(ctx, c.Dimension, args)
			require.NoError(t, err)
			if !assert.Equal(t, want, got, "%s: %q", tc.name, text) {
				return
			}
		}
	}
}

// fusedSQL is the hybrid statement SearchGroup replaced, as it was: the reference for what
// a search returns.
func fusedSQL(dim int) string {
	return fmt.Sprintf(`WITH vec AS (
	SELECT id, dist, row_number() OVER (ORDER BY dist, id DESC) AS r FROM (
		SELECT id, embedding::vector(%[1]d) <=> $1 AS dist FROM chunks
		WHERE dimension = %[1]d AND current AND embedding IS NOT NULL AND corpus_id = ANY($2)
			AND ($3::bigint[] IS NULL OR document_id = ANY($3)) AND ($4::text[] IS NULL OR tags && $4)
		ORDER BY embedding::vector(%[1]d) <=> $1 LIMIT $5) v
), terms AS (
	SELECT term, df, row_number() OVER (ORDER BY df, term) AS n, sum(df) OVER (ORDER BY df, term) - df AS before FROM (
		SELECT term, sum(chunks) AS df FROM corpus_terms WHERE corpus_id = ANY($2) AND term = ANY($6::text[]) AND chunks > 0
		GROUP BY term) t
), tsq AS (
	SELECT CASE WHEN (SELECT min(df) FROM terms) < %[2]d OR (SELECT count(*) FROM terms) = 1
		THEN (SELECT to_tsquery('simple', string_agg(quote_literal(term), ' | ')) FROM terms WHERE before + df <= %[2]d OR n = 1)
		ELSE (SELECT to_tsquery('simple', string_agg(quote_literal(a.term) || ' & ' || quote_literal(b.term), ' | '))
			FROM terms a JOIN terms b ON a.n < b.n AND b.n <= 4)
	END AS q
), txt AS (
	SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id DESC) AS r FROM (
		SELECT c.id, ts_rank(c.search, tsq.q, 1) AS rank FROM (
			-- Only ids here, so that capping a large match is a small in-memory sort.
			SELECT id FROM chunks, tsq
			WHERE current AND search @@ tsq.q AND corpus_id = ANY($2)
				AND ($3::bigint[] IS NULL OR document_id = ANY($3)) AND ($4::text[] IS NULL OR tags && $4)
			ORDER BY id DESC LIMIT %[3]d) m
		JOIN chunks c ON c.id = m.id CROSS JOIN tsq
		ORDER BY rank DESC, c.id DESC LIMIT $7) t
), fused AS (
	SELECT coalesce(vec.id, txt.id) AS id, vec.r AS vector_rank, 1 - vec.dist AS vector_score, txt.r AS text_rank, txt.rank AS text_score,
		coalesce($8::float8 / ($10::int + vec.r), 0) + coalesce($9::float8 / ($10::int + txt.r), 0) AS score
	FROM vec FULL JOIN txt ON vec.id = txt.id
	ORDER BY score DESC, id DESC LIMIT $11
)
SELECT c.id, c.document_id, c.corpus_id, c.version, c.position, d.slug, d.lang, d.title, c.heading_path, c.text, coalesce(c.page, 0), c.current,
	f.score, f.vector_rank::int, f.vector_score, f.text_rank::int, f.text_score::float8
FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id
ORDER BY f.score DESC, f.id DESC`, dim, retrieval.TextMatchBudget, retrieval.TextRankCap)
}
