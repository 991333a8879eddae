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
	// The demo campaign's items are generated grounded in the demo corpus: their questions
	// are the index's. Generation goes on in the background (and after the restart), so the
	// checks below see at least one and at most all of them.
	require.Eventually(t, func() bool {
		var asked int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM candidates WHERE cardinality(passage_ids) > 0`).Scan(&asked))
		return asked > 0
	}, time.Minute, 50*time.Millisecond, "the demo campaign's items are generated")
	// The check at start ran before the demo corpus existed; a restart checks it.
	require.NoError(t, m.stop())
	srv := serve(t, map[string]string{"DATABASE_URL": m.dsn, "MENTOR_ENV": "development"})
	srv.waitFor(t, readyLine.MatchString)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM vector_index_checks
			WHERE dimension = 256 AND vectors = $1 AND questions BETWEEN 1 AND $2 AND recall >= 0.95 AND NOT rebuilt`,
			embedded, retrieval.VectorIndexCheckQuestions).Scan(&n))
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
	assert.Equal(t, [2]int{256, embedded}, [2]int{check.Dimension, check.Vectors})
	assert.Positive(t, check.Questions)
	assert.Equal(t, check.Questions >= retrieval.DefaultVectorIndexPolicy.MinQuestions, check.Judged)
	assert.False(t, check.Poor)
	assert.False(t, check.AfterRebuild)
	assert.GreaterOrEqual(t, check.Recall, 0.95)
	assert.False(t, page.Corpus.IndexCheck.Rebuilt)
	assert.WithinDuration(t, time.Now(), page.Corpus.IndexCheck.CheckedAt, time.Minute)

	env := envFunc(map[string]string{"DATABASE_URL": m.dsn})
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"mentor", "vector-index", "check", "--questions", "5"}, env, nil, &stdout, &stderr), stderr.String())
	assert.Regexp(t, fmt.Sprintf(`^256 dimensions: %d vectors; recall@10 (1\.000|0\.9[5-9]\d) on the latest [1-5] questions, \d found none of their 10 nearest `+
		`\(fewer than 50: too few to judge the index by\)\n$`, embedded), stdout.String())

	stdout.Reset()
	require.NoError(t, run(ctx, []string{"mentor", "vector-index", "repair", "--json"}, env, nil, &stdout, &stderr), stderr.String())
	var repairs []retrieval.VectorIndexRepair
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &repairs), stdout.String())
	require.Len(t, repairs, 1)
	assert.True(t, repairs[0].Healthy, "%+v", repairs)
	assert.Zero(t, repairs[0].Rebuilds)
	require.Len(t, repairs[0].Checks, 1)
	assert.Positive(t, repairs[0].Checks[0].Questions)

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
