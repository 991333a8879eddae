package retrieval_test

import (
	"context"
	"strings"
	"testing"

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
	want := strings.Split(strings.ReplaceAll(retrieval.VectorIndexBuild, " ", ""), ",")
	for _, name := range []string{"chunks_embedding_256", "chunks_embedding_64"} {
		var opts []string
		var valid bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(c.reloptions, '{}'), i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
			WHERE c.relname = $1`, name).Scan(&opts, &valid), name)
		assert.ElementsMatch(t, want, opts, name)
		assert.True(t, valid, "%s is valid", name)
	}
}
