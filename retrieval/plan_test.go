package retrieval_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestSearchStatementsUseTheirCachedPlans holds SearchGroup's statements to each connection's
// cached plan once PostgreSQL has planned its first five runs (issue 17). The vector list, with
// its filters and limit as parameters (VectorSQL), was planned on every call, since its generic
// plan was costed far dearer than one made for the call's values: the same runs of that form
// are the control, which shows what this test would catch.
func TestSearchStatementsUseTheirCachedPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Two connections, so that each sees most of the runs: SearchGroup runs its lists at once.
	// Planned as for a large corpus: through the HNSW index, not by sorting a small table's
	// rows (which no limit changes the cost of, and which the vector list's generic plan
	// chose too).
	pool, err := db.ConnectWith(ctx, pgtest.URL(t), func(c *pgxpool.Config) {
		c.MaxConns = 2
		c.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "plans"})
	for _, r := range s.IngestBatch(ctx, c, corpusgen.Documents(5, 200, 8)) {
		require.NoError(t, r.Err)
	}
	// chunks_document is gone since migration 00024 (its columns' unique index stays).
	_, err = pool.Exec(ctx, `DROP INDEX chunks_corpus; ANALYZE chunks`)
	require.NoError(t, err)

	var vectorSQL string
	var general [][]any
	for _, text := range corpusgen.Queries(3, 16) {
		args, err := s.SearchArgs(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: text, K: 10, Fusion: retrieval.DefaultFusion},
			c.Embedder, c.Dimension, []int64{c.ID})
		require.NoError(t, err)
		ps, err := s.SearchGroup(ctx, c.Dimension, args)
		require.NoError(t, err)
		require.NotEmpty(t, ps)
		vectorSQL, _ = retrieval.VectorList(c.Dimension, args)
		general = append(general, args[:5])
	}
	for _, args := range general {
		rows, err := pool.Query(ctx, retrieval.VectorSQL(c.Dimension), args...)
		require.NoError(t, err)
		rows.Close()
		require.NoError(t, rows.Err())
	}

	// Per connection: PostgreSQL plans a statement for its values on a connection's first
	// five runs of it, so a statement on its cached plan has at most five custom plans on
	// each connection, however the pool shared the runs out between its two.
	plans := map[string][2]int64{}   // statement: generic, custom, on all connections
	mostCustom := map[string]int64{} // statement: the most custom plans on one connection
	for _, conn := range pool.AcquireAllIdle(ctx) {
		rows, err := conn.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
		require.NoError(t, err)
		for rows.Next() {
			var sql string
			var g, cu int64
			require.NoError(t, rows.Scan(&sql, &g, &cu))
			plans[sql] = [2]int64{plans[sql][0] + g, plans[sql][1] + cu}
			mostCustom[sql] = max(mostCustom[sql], cu)
		}
		require.NoError(t, rows.Err())
		conn.Release()
	}
	for name, sql := range map[string]string{"vector list": vectorSQL, "full-text list": retrieval.TextSQL, "passages": retrieval.PassagesSQL} {
		p := plans[sql]
		assert.Equal(t, int64(16), p[0]+p[1], "%s: runs", name)
		assert.LessOrEqual(t, mostCustom[sql], int64(5), "%s: planned for the call after a connection's first five runs", name)
		assert.Positive(t, p[0], "%s: runs on the cached plan", name)
	}
	control := plans[retrieval.VectorSQL(c.Dimension)]
	assert.Equal(t, [2]int64{0, 16}, control, "the vector list with its filters and limit as parameters: generic, custom plans")
}
