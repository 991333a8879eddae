package retrieval_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestVectorIndexesAreBuiltAlike holds every HNSW index to retrieval.VectorIndexBuild: the one
// migration 00029 rebuilt, and one a corpus of another dimension creates (VectorIndexSQL).
// Recall at a given ef_search depends on the build (issue 17), so an index built with other
// parameters would search worse than docs/retrieval.md says.
func TestVectorIndexesAreBuiltAlike(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, retrieval.VectorIndexSQL(64))
	require.NoError(t, err)
	assertBuiltAlike(t, pool, "chunks_embedding_256", "chunks_embedding_64")
}

// assertBuiltAlike checks that each named index is valid and has VectorIndexBuild's parameters.
func assertBuiltAlike(t *testing.T, pool *pgxpool.Pool, names ...string) {
	t.Helper()
	ctx := context.Background()
	want := strings.Split(strings.ReplaceAll(retrieval.VectorIndexBuild, " ", ""), ",")
	for _, name := range names {
		var opts []string
		var valid bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(c.reloptions, '{}'), i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
			WHERE c.relname = $1`, name).Scan(&opts, &valid), name)
		assert.ElementsMatch(t, want, opts, name)
		assert.True(t, valid, "%s is valid", name)
	}
}

// TestMeasureVectorIndexAgainstExactSearch measures a small index of near-identical generated
// chunks: HNSW finds nearly all of each question's 10 nearest, and without the index the
// check's two searches are one exact search, so its recall is exactly 1 (ties included). A
// dimension with no vectors has nothing to measure, and an index no one has asked anything
// has no questions.
func TestMeasureVectorIndexAgainstExactSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	ingestAll(t, s, c, batchDocs(300))
	var vectors int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE corpus_id = $1 AND embedding IS NOT NULL`, c.ID).Scan(&vectors))
	require.Positive(t, vectors)
	var questions []retrieval.VectorIndexQuestion
	for i := range 50 {
		questions = append(questions, retrieval.VectorIndexQuestion{Text: fmt.Sprintf("旅客携带物品%d件要申报吗", i*7), CorpusID: c.ID, Embedder: c.Embedder})
	}

	check, err := s.MeasureVectorIndex(ctx, 256, questions)
	require.NoError(t, err)
	assert.Equal(t, 50, check.Questions)
	assert.Equal(t, vectors, check.Vectors)
	assert.Zero(t, check.NoneFound)
	assert.GreaterOrEqual(t, check.Recall, 0.95)
	assert.LessOrEqual(t, check.Recall, 1.0)

	none, err := s.CheckVectorIndex(ctx, 256, 200)
	require.NoError(t, err)
	assert.Equal(t, retrieval.VectorIndexCheck{Dimension: 256, Vectors: vectors}, none, "no turn has asked this index anything")
	assert.False(t, retrieval.DefaultVectorIndexPolicy.Judges(none))
	assert.False(t, retrieval.DefaultVectorIndexPolicy.Poor(none), "too few questions to call it poor")

	// The plan: one search through the index, one that cannot use it (the + 0), even when
	// sequential scans are priced out as a large corpus prices them. As in
	// TestSearchStatementsUseTheirCachedPlans, without the corpus's btree, which a corpus this
	// small is read through (then both searches are exact, for the check as for a search).
	_, err = pool.Exec(ctx, `DROP INDEX chunks_corpus; ANALYZE chunks`)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // only read
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	probe := make([]float32, 256)
	probe[0] = 1
	rows, _ := tx.Query(ctx, `EXPLAIN `+retrieval.VectorIndexCheckSQL(256), []pgvector.Vector{pgvector.NewVector(probe)}, []int64{c.ID})
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	plan := strings.Join(lines, "\n")
	assert.Equal(t, 1, strings.Count(plan, "using chunks_embedding_256"), plan)
	require.NoError(t, tx.Rollback(ctx))

	_, err = pool.Exec(ctx, `DROP INDEX chunks_embedding_256`)
	require.NoError(t, err)
	exact, err := s.MeasureVectorIndex(ctx, 256, questions)
	require.NoError(t, err)
	assert.Equal(t, retrieval.VectorIndexCheck{Dimension: 256, Vectors: vectors, Questions: 50, Recall: 1}, exact)

	empty, err := s.MeasureVectorIndex(ctx, 64, questions)
	require.NoError(t, err)
	assert.Equal(t, retrieval.VectorIndexCheck{Dimension: 64}, empty, "no chunk of 64 dimensions")

	_, err = s.MeasureVectorIndex(ctx, 256, []retrieval.VectorIndexQuestion{{Text: "x", Embedder: "no-such-model"}})
	require.Error(t, err, "a question of an embedder this server does not have cannot be embedded")
}

// TestRepairVectorIndexRebuildsAndKeepsEveryCheck repairs with a policy no index can meet, so
// it rebuilds as many times as the policy allows: every check is kept with whether a rebuild
// followed, the index comes back valid and built alike, a rebuild left unfinished is dropped,
// and searches find passages afterwards. The default policy does not rebuild an index it has
// too few questions to judge.
func TestRepairVectorIndexRebuildsAndKeepsEveryCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	ingestAll(t, s, c, batchDocs(120))
	// What a REINDEX CONCURRENTLY cut off leaves behind, under the name it uses.
	_, err := pool.Exec(ctx, `CREATE INDEX chunks_embedding_256_ccnew ON chunks (id)`)
	require.NoError(t, err)

	dims, err := s.VectorIndexDimensions(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{256}, dims)

	never := retrieval.VectorIndexPolicy{Questions: 20, MinRecall: 1.01, Rebuilds: 2}
	r, err := s.RepairVectorIndex(ctx, 256, never)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Rebuilds)
	assert.False(t, r.Healthy)
	require.Len(t, r.Checks, 3)
	rows, _ := pool.Query(ctx, `SELECT rebuilt FROM vector_index_checks WHERE dimension = 256 AND vectors = 120 ORDER BY id`)
	rebuilt, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	require.NoError(t, err)
	assert.Equal(t, []bool{true, true, false}, rebuilt)

	var leftover bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('chunks_embedding_256_ccnew') IS NOT NULL`).Scan(&leftover))
	assert.False(t, leftover, "the unfinished rebuild is dropped")
	assertBuiltAlike(t, pool, "chunks_embedding_256")
	passages, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "旅客携带物品", K: 3, Fusion: retrieval.DefaultFusion})
	require.NoError(t, err)
	assert.Len(t, passages, 3)

	r, err = s.RepairVectorIndex(ctx, 256, retrieval.DefaultVectorIndexPolicy)
	require.NoError(t, err)
	assert.Equal(t, retrieval.VectorIndexRepair{Checks: []retrieval.VectorIndexCheck{{Dimension: 256, Vectors: 120}}, Healthy: true}, r)
}
