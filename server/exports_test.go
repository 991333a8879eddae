package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// createExport POSTs an export and returns the answer, failing unless it is 201.
func createExport(t *testing.T, c *client, project string, body map[string]any) map[string]any {
	t.Helper()
	status, res := c.call(t, "POST", "/api/v1/projects/"+project+"/exports", body)
	require.Equal(t, http.StatusCreated, status, res)
	return res
}

// fileOf is the one data file of a created export's manifest.
func fileOf(t *testing.T, created map[string]any) map[string]any {
	t.Helper()
	files := created["manifest"].(map[string]any)["files"].([]any)
	require.Len(t, files, 1)
	return files[0].(map[string]any)
}

func countRows(t *testing.T, f fixture, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

func TestExportCreateDownloadAndCount(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 200)
	reviewer := f.member(t, "reviewer", mustProjectID(t, f, "data"), auth.RoleReviewer)

	created := createExport(t, reviewer, "data", map[string]any{"format": "trl-dpo", "persona": []string{"customs"}})
	id := int64(created["snapshot_id"].(float64))
	url := fmt.Sprintf("/api/v1/projects/data/exports/%d/download", id)
	assert.Equal(t, url, created["download_url"])
	manifest := created["manifest"].(map[string]any)
	assert.EqualValues(t, 200, manifest["rows"])
	assert.EqualValues(t, id, manifest["snapshot_id"])
	assert.Equal(t, "reviewer", manifest["created_by"])
	file := fileOf(t, created)
	assert.Equal(t, "data-trl-dpo-all.jsonl", file["name"])
	assert.EqualValues(t, 200, file["rows"])
	snapshots := `SELECT count(*) FROM dataset_snapshots WHERE creator = 'reviewer' AND row_count = 200`
	audited := `SELECT count(*) FROM audit_events WHERE action = 'export' AND actor = 'reviewer' AND (details->>'rows')::int = 200`
	assert.Equal(t, 1, countRows(t, f, snapshots), "the export is recorded")
	assert.Equal(t, 1, countRows(t, f, audited), "and the audit log says who took it")

	// The download streams the recorded snapshot: the bytes the manifest describes.
	for range 2 {
		res := reviewer.request(t, "GET", url, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "application/jsonl; charset=utf-8", res.Header.Get("Content-Type"))
		assert.Contains(t, res.Header.Get("Content-Disposition"), `filename="data-trl-dpo-all.jsonl"`)
		assert.Equal(t, fmt.Sprint(id), res.Header.Get("X-Mentor-Snapshot"))
		assert.Equal(t, manifest["as_of"], res.Header.Get("X-Mentor-As-Of"))
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		assert.Equal(t, file["sha256"], hex.EncodeToString(sum[:]), "the download is byte for byte what was recorded")
		assert.Equal(t, file["sha256"], res.Trailer.Get("X-Mentor-SHA256"))
		assert.Equal(t, "200", res.Trailer.Get("X-Mentor-Rows"))
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var row map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
			assert.Contains(t, row, "prompt")
			lines++
		}
		assert.Equal(t, 200, lines)
	}
	assert.Equal(t, 1, countRows(t, f, snapshots), "downloading changes nothing")
	assert.Equal(t, 1, countRows(t, f, audited))

	// One split: the file holds that split's rows, though the manifest counts them all.
	test := createExport(t, reviewer, "data", map[string]any{"format": "trl-sft", "test_fraction": 0.3, "seed": 3, "split": "test"})
	testFile := fileOf(t, test)
	splits := test["manifest"].(map[string]any)["splits"].(map[string]any)
	assert.EqualValues(t, 20, test["manifest"].(map[string]any)["rows"])
	assert.NotZero(t, splits["test"])
	assert.NotZero(t, splits["train"])
	assert.Equal(t, splits["test"], testFile["rows"])
	assert.Equal(t, "test", testFile["split"])
	res := reviewer.request(t, "GET", test["download_url"].(string), nil)
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.EqualValues(t, testFile["rows"], bytes.Count(data, []byte("\n")))
	assert.Equal(t, fmt.Sprint(testFile["rows"]), res.Trailer.Get("X-Mentor-Rows"))
	assert.Contains(t, res.Header.Get("Content-Disposition"), "data-trl-sft-test.jsonl")

	status, body := reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-kto", nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.EqualValues(t, 40, body["rows"], "20 judgments: top (true) and bottom (false) candidate each")
	assert.EqualValues(t, 20, body["kto_labels"].(map[string]any)["desirable"])

	status, body = reviewer.call(t, "POST", "/api/v1/projects/data/exports", map[string]any{"format": "trl-ppo"})
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, msg := errorOf(body)
	assert.Equal(t, "format", field)
	assert.Contains(t, msg, "trl-sft, trl-dpo")
	status, body = reviewer.call(t, "POST", "/api/v1/projects/data/exports", map[string]any{"format": "trl-sft", "from": "yesterday"})
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, _ = errorOf(body)
	assert.Equal(t, "from", field)
	status, body = reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-sft&from=yesterday", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, _ = errorOf(body)
	assert.Equal(t, "from", field)

	status, body = reviewer.call(t, "GET", "/api/v1/projects/data/exports/count?format=trl-sft&to=2001-01-01", nil)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 0, body["rows"])
	assert.Contains(t, body["message"], "no rows")
	empty := createExport(t, reviewer, "data", map[string]any{"format": "trl-sft", "to": "2001-01-01"})
	assert.Contains(t, empty["manifest"].(map[string]any)["message"], "no rows")
	assert.EqualValues(t, 0, fileOf(t, empty)["rows"])

	// A script with an export token creates and downloads; a read token may do neither.
	secret, _, err := f.auth.CreateToken(context.Background(), mustUserID(t, f, "reviewer"), "script", []auth.Scope{auth.ScopeExport})
	require.NoError(t, err)
	script := f.withToken(secret)
	parquet := createExport(t, script, "data", map[string]any{"format": "trl-sft", "encoding": "parquet"})
	res = script.request(t, "GET", parquet["download_url"].(string), nil)
	data, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "application/vnd.apache.parquet", res.Header.Get("Content-Type"))
	assert.Equal(t, "PAR1", string(data[:4]))
	read, _, err := f.auth.CreateToken(context.Background(), mustUserID(t, f, "reviewer"), "reader", []auth.Scope{auth.ScopeRead})
	require.NoError(t, err)
	status, _ = f.withToken(read).call(t, "POST", "/api/v1/projects/data/exports", map[string]any{"format": "trl-sft"})
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = f.withToken(read).call(t, "GET", url, nil)
	assert.Equal(t, http.StatusForbidden, status)

	// A snapshot of another project is not found under this one, exactly as a missing one.
	other, err := prompts.NewStore(f.pool).CreateProject(context.Background(), prompts.Project{Name: "别的", Slug: "other"})
	require.NoError(t, err)
	elsewhere := createExport(t, f.admin, other.Slug, map[string]any{"format": "trl-sft"})
	statusA, foreign := f.admin.call(t, "GET", fmt.Sprintf("/api/v1/projects/data/exports/%v/download", elsewhere["snapshot_id"]), nil)
	statusB, missing := f.admin.call(t, "GET", "/api/v1/projects/data/exports/987654321/download", nil)
	assert.Equal(t, http.StatusNotFound, statusA)
	assert.Equal(t, statusB, statusA)
	assert.Equal(t, withoutIDs(t, missing), withoutIDs(t, foreign))
}

// TestCreatingAnExportNeedsPOSTWithCSRF is the cross-site case: a page elsewhere can make a
// signed-in reviewer's browser navigate to a URL (a GET with the session cookie), or submit
// a form to it, but cannot send the session's CSRF header. None of that may export anything.
func TestCreatingAnExportNeedsPOSTWithCSRF(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 20)
	reviewer := f.member(t, "reviewer", mustProjectID(t, f, "data"), auth.RoleReviewer)
	cookieOnly := *reviewer
	cookieOnly.csrf = ""
	nothing := func(t *testing.T) {
		t.Helper()
		assert.Zero(t, countRows(t, f, `SELECT count(*) FROM dataset_snapshots`), "no snapshot")
		assert.Zero(t, countRows(t, f, `SELECT count(*) FROM audit_events WHERE action = 'export'`), "no audit event")
	}

	res := cookieOnly.request(t, "GET", "/api/v1/projects/data/exports?format=trl-dpo", nil)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "a navigation cannot export")
	nothing(t)

	status, body := cookieOnly.call(t, "POST", "/api/v1/projects/data/exports", map[string]any{"format": "trl-dpo"})
	code, _, msg := errorOf(body)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "forbidden", code)
	assert.Contains(t, msg, "X-CSRF-Token")
	nothing(t)

	req, err := http.NewRequest("POST", f.srv.URL+"/api/v1/projects/data/exports", strings.NewReader("format=trl-dpo"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, err = cookieOnly.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "a cross-site form cannot export")
	nothing(t)

	created := createExport(t, reviewer, "data", map[string]any{"format": "trl-dpo"})
	assert.EqualValues(t, 1, countRows(t, f, `SELECT count(*) FROM dataset_snapshots`))
	// Following the download link without the header is fine: it only reads.
	res = cookieOnly.request(t, "GET", created["download_url"].(string), nil)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.EqualValues(t, 1, countRows(t, f, `SELECT count(*) FROM dataset_snapshots`))
	assert.EqualValues(t, 1, countRows(t, f, `SELECT count(*) FROM audit_events WHERE action = 'export'`))
}

// TestExportClientDisconnectStopsTheQuery starts a large download, reads a little, and hangs
// up: the server must stop the query and give the connection back to the pool.
func TestExportClientDisconnectStopsTheQuery(t *testing.T) {
	t.Parallel()
	f, _ := exportWorld(t, 100_000)
	created := createExport(t, f.admin, "data", map[string]any{"format": "trl-reward"})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+created["download_url"].(string), nil)
	require.NoError(t, err)
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
	assert.Equal(t, 1, countRows(t, f, `SELECT count(*) FROM dataset_snapshots`), "an abandoned download records nothing")
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
