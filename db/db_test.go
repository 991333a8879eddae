package db_test

import (
	"context"
	"testing"

	"github.com/pgvector/pgvector-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"url with password", "postgres://mentor:hunter2@db:5432/mentor?sslmode=disable", "postgres://mentor:xxxxx@db:5432/mentor?sslmode=disable"},
		{"url without password", "postgres://mentor@db/mentor", "postgres://mentor@db/mentor"},
		{"password in query", "postgresql://db/mentor?user=u&password=hunter2", "postgresql://db/mentor?password=xxxxx&user=u"},
		{"keyword form", "host=db user=u password=hunter2 dbname=m", "host=db user=u password=xxxxx dbname=m"},
		{"keyword form quoted", "host=db password='a b\\' c' dbname=m", "host=db password=xxxxx dbname=m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := db.Redact(tt.in)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "hunter2")
		})
	}
}

// TestPoolKnowsVectorTypes checks that pool connections register pgvector's types, so
// vectors round-trip without casts.
func TestPoolKnowsVectorTypes(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	var got pgvector.Vector
	require.NoError(t, pool.QueryRow(ctx, `SELECT $1::vector`, pgvector.NewVector([]float32{1, 0.5, -2})).Scan(&got))
	assert.Equal(t, []float32{1, 0.5, -2}, got.Slice())

	v, err := db.SchemaVersion(ctx, pool)
	require.NoError(t, err)
	assert.Positive(t, v)
	require.NoError(t, db.CheckVector(ctx, pool))
}
