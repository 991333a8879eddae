package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/bulkpairs"
	"github.com/mentor-ai/mentor/prompts"
)

// exportWorld is a project "data" with n bulk preference pairs judged by root.
func exportWorld(t *testing.T, n int) (fixture, prompts.Project) {
	t.Helper()
	f := setup(t)
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "数据", Slug: "data"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "通关助手", Slug: "customs", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, RetrievalK: 1, Author: "t"})
	require.NoError(t, err)
	root, err := f.auth.UserByLogin(ctx, "root")
	require.NoError(t, err)
	require.NoError(t, bulkpairs.Insert(ctx, f.pool, bulkpairs.Owner{Project: p.ID, Persona: persona.ID, PromptVersion: v.ID, User: root.ID}, n))
	return f, p
}

func TestExportDownloadAndCount(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 200)
	reviewer := f.member(t, "reviewer", mustProjectID(t, f, "data"), auth.RoleReviewer)

	res := reviewer.request(t, "GET", "/api/v1/projects/data/exports?format=trl-dpo&persona=customs", nil)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "application/jsonl; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, res.Header.Get("Content-Disposition"), "data-trl-dpo-all.jsonl")
	asOf := res.Header.Get("X-Mentor-As-Of")
	assert.NotEmpty(t, asOf)
	lines := 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
		assert.Contains(t, row, "prompt")
		lines++
	}
	assert.Equal(t, 200, lines)
	assert.Equal(t, "200", res.Trailer.Get("X-Mentor-Rows"))
	var snapshots int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM dataset_snapshots WHERE creator = 'reviewer' AND row_count = 200`).Scan(&snapshots))
	assert.Equal(t, 1, snapshots, "a finished download is recorded")
	var audited int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'export' AND actor = 'reviewer'
		AND (details->>'rows')::int = 200`).Scan(&audited))
	assert.Equal(t, 1, audited, "and the audit log says who took it")

	status, body := reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-kto", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.EqualValues(t, 40, body["rows"], "20 judgments: top (true) and bottom (false) candidate each")
	assert.EqualValues(t, 20, body["kto_labels"].(map[string]any)["desirable"])

	status, body = reviewer.call(t, "GET", "/api/v1/projects/data/exports?format=trl-ppo", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, msg := errorOf(body)
	assert.Equal(t, "format", field)
	assert.Contains(t, msg, "trl-sft, trl-dpo")
	status, body = reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-sft&from=yesterday", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, _ = errorOf(body)
	assert.Equal(t, "from", field)

	status, body = reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-sft&to=2001-01-01", nil)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 0, body["rows"])
	assert.Contains(t, body["message"], "no rows")

	// A token with the export scope may download; a read token may not.
	secret, _, err := f.auth.CreateToken(context.Background(), mustUserID(t, f, "reviewer"), "script", []auth.Scope{auth.ScopeExport})
	require.NoError(t, err)
	res2 := f.withToken(secret).request(t, "GET", "/api/v1/projects/data/exports?format=trl-sft&encoding=parquet", nil)
	data, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	assert.Equal(t, http.StatusOK, res2.StatusCode)
	assert.Equal(t, "PAR1", string(data[:4]))
	read, _, err := f.auth.CreateToken(context.Background(), mustUserID(t, f, "reviewer"), "reader", []auth.Scope{auth.ScopeRead})
	require.NoError(t, err)
	status, _ = f.withToken(read).call(t, "GET", "/api/v1/projects/data/exports?format=trl-sft", nil)
	assert.Equal(t, http.StatusForbidden, status)
}

// TestExportClientDisconnectStopsTheQuery starts a large download, reads a little, and hangs
// up: the server must stop the query and give the connection back to the pool.
func TestExportClientDisconnectStopsTheQuery(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 100_000)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/projects/data/exports?format=trl-reward", nil)
	require.NoError(t, err)
	req.Header.Set("X-CSRF-Token", f.admin.csrf)
	res, err := f.admin.http.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	buf := make([]byte, 64<<10)
	_, err = io.ReadFull(res.Body, buf)
	require.NoError(t, err)

	running := func() int {
		var n int
		require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state <> 'idle' AND query LIKE 'WITH latest AS%' AND pid <> pg_backend_pid()`).Scan(&n))
		return n
	}
	t.Cleanup(cancel) // a failure below must not leave the server blocked writing
	require.Equal(t, 1, running(), "the export's query is running while the client reads")
	cancel()
	res.Body.Close()
	require.Eventually(t, func() bool { return running() == 0 }, 10*time.Second, 20*time.Millisecond, "the query goes on after the client left")
	require.Eventually(t, func() bool { return f.pool.Stat().AcquiredConns() == 0 }, 10*time.Second, 20*time.Millisecond,
		"the export's connection was not given back")
	var snapshots int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM dataset_snapshots`).Scan(&snapshots))
	assert.Zero(t, snapshots, "an abandoned download is no snapshot")
}

func mustProjectID(t *testing.T, f fixture, slug string) int64 {
	t.Helper()
	p, err := prompts.NewStore(f.pool).ProjectBySlug(context.Background(), slug)
	require.NoError(t, err)
	return p.ID
}

func mustUserID(t *testing.T, f fixture, login string) int64 {
	t.Helper()
	u, err := f.auth.UserByLogin(context.Background(), login)
	require.NoError(t, err)
	return u.ID
}
