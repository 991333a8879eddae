package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/retrieval"
)

// TestVectorIndexIsCheckedAtStartAndOnDemand is issue 17's repair of a poor HNSW graph as the
// binary does it: `mentor serve` measures every vector index's recall on the questions asked
// of it once at start (then every --vector-index-check) and keeps what it found, and `mentor vector-index check|repair`
// gives an operator the same answer at once. The demo corpus is small enough for HNSW to
// search all but exactly.
func TestVectorIndexIsCheckedAtStartAndOnDemand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := startMentor(t, nil)
	pool, err := pgxpool.New(ctx, m.dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var embedded int
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE embedding IS NULL), count(*) FILTER (WHERE embedding IS NOT NULL)
			FROM chunks WHERE current`).Scan(&waiting, &embedded))
		return waiting == 0 && embedded > 0
	}, time.Minute, 50*time.Millisecond, "the demo corpus is embedded")
	// The demo campaign's items were generated grounded in the demo corpus: their questions
	// are the index's.
	var asked int
	require.Eventually(t, func() bool {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT m.content) FROM candidates ca JOIN turns t ON t.id = ca.turn_id
			JOIN messages m ON m.id = t.user_message_id WHERE cardinality(ca.passage_ids) > 0`).Scan(&asked))
		return asked > 0
	}, time.Minute, 50*time.Millisecond, "the demo campaign's items are generated")
	asked = min(asked, retrieval.VectorIndexCheckQuestions)
	// The check at start ran before the demo corpus existed; a restart checks it.
	require.NoError(t, m.stop())
	srv := serve(t, map[string]string{"DATABASE_URL": m.dsn, "MENTOR_ENV": "development"})
	srv.waitFor(t, readyLine.MatchString)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM vector_index_checks
			WHERE dimension = 256 AND vectors = $1 AND questions = $2 AND recall >= 0.95 AND NOT rebuilt`,
			embedded, asked).Scan(&n))
		return n == 1
	}, time.Minute, 50*time.Millisecond, "serve checked the demo corpus's index at start")

	// The corpus page shows the last check (GET /corpora/:id's index_check).
	restarted := m
	restarted.base = readyLine.FindStringSubmatch(srv.stdout.String())[1]
	admin := restarted.signIn(t, "admin")
	var corpusID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM corpora ORDER BY id LIMIT 1`).Scan(&corpusID))
	status, body := admin.call("GET", fmt.Sprintf("/api/v1/corpora/%d", corpusID), nil)
	require.Equal(t, 200, status, "%s", body)
	var page struct {
		Corpus retrieval.CorpusStatus `json:"corpus"`
	}
	require.NoError(t, json.Unmarshal(body, &page), "%s", body)
	require.NotNil(t, page.Corpus.IndexCheck, "%s", body)
	check := page.Corpus.IndexCheck
	assert.Equal(t, [3]int{256, embedded, asked}, [3]int{check.Dimension, check.Vectors, check.Questions})
	assert.GreaterOrEqual(t, check.Recall, 0.95)
	assert.False(t, page.Corpus.IndexCheck.Rebuilt)
	assert.WithinDuration(t, time.Now(), page.Corpus.IndexCheck.CheckedAt, time.Minute)

	env := envFunc(map[string]string{"DATABASE_URL": m.dsn})
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"mentor", "vector-index", "check", "--questions", "5"}, env, nil, &stdout, &stderr), stderr.String())
	assert.Regexp(t, fmt.Sprintf(`^256 dimensions: %d vectors; recall@10 (1\.000|0\.9[5-9]\d) on the latest %d questions, \d found none of their 10 nearest\n$`,
		embedded, min(asked, 5)), stdout.String())

	stdout.Reset()
	require.NoError(t, run(ctx, []string{"mentor", "vector-index", "repair", "--json"}, env, nil, &stdout, &stderr), stderr.String())
	var repairs []retrieval.VectorIndexRepair
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &repairs), stdout.String())
	require.Len(t, repairs, 1)
	assert.True(t, repairs[0].Healthy, "%+v", repairs)
	assert.Zero(t, repairs[0].Rebuilds)
	require.Len(t, repairs[0].Checks, 1)
	assert.Equal(t, asked, repairs[0].Checks[0].Questions)

	for _, tt := range []struct {
		args               []string
		wantErr, wantUsage string
	}{
		{[]string{"mentor", "vector-index"}, "usage error", "Usage: mentor vector-index check|repair"},
		{[]string{"mentor", "vector-index", "rebuild"}, "usage error", "Usage: mentor vector-index check|repair"},
		{[]string{"mentor", "vector-index", "check", "--questions", "0"}, "--questions: must be between 1 and 10000, not 0", ""},
	} {
		stderr.Reset()
		err := run(ctx, tt.args, env, nil, &stdout, &stderr)
		require.Error(t, err, tt.args)
		assert.Contains(t, err.Error(), tt.wantErr, tt.args)
		assert.Contains(t, stderr.String(), tt.wantUsage, tt.args)
	}
}
