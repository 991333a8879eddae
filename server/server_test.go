package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/migrations"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(body)
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	f := setup(t)
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   []string
	}{
		{"healthz", "/healthz", 200, []string{`"status":"ok"`}},
		{"readyz on a current schema", "/readyz", 200, []string{`"status":"ready"`, fmt.Sprintf(`"schema_version":%d,"binary_schema_version":%[1]d`, latest)}},
		{"version", "/api/v1/version", 200, []string{`"version":"test"`}},
		{"unknown route, said in Chinese to a client that names no language", "/api/v1/nope", 404,
			[]string{`{"error":{"code":"not_found","message":"没有这个接口：GET /api/v1/nope","key":"no route %s %s","params":["GET","/api/v1/nope"]}}`}},
		{"ui shell", "/", 200, []string{`<script type="module" src="/static/app.js">`}},
		{"ui asset", "/static/locales/zh-CN.json", 200, []string{`"app.name": "Mentor 导师"`}},
		{"missing asset", "/static/nope.js", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := get(t, f.srv.URL+tt.path)
			assert.Equal(t, tt.wantStatus, status, body)
			for _, want := range tt.wantBody {
				assert.Contains(t, body, want)
			}
			assert.Contains(t, hdr.Get("Content-Security-Policy"), "script-src 'self'")
			assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
		})
	}

	// The scrape sees the requests above, labelled by route template.
	_, _, metrics := get(t, f.srv.URL+"/metrics")
	assert.Contains(t, metrics, `mentor_http_requests_total{method="GET",route="/healthz",status="200"} 1`)
	assert.Contains(t, metrics, `route="unmatched",status="404"`)
}

func TestReadyzReportsSchemaMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version int64
		want    string
	}{
		{"database newer than binary", 9999, "database schema version 9999 is newer than this binary's"},
		{"database older than binary", 0, "is older than this binary's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			ctx := context.Background()
			if tt.version > 0 {
				_, err := f.pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, tt.version)
				require.NoError(t, err)
			} else {
				_, err := f.pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id > 0`)
				require.NoError(t, err)
			}
			status, _, body := get(t, f.srv.URL+"/readyz")
			assert.Equal(t, http.StatusServiceUnavailable, status)
			var r struct {
				Status   string   `json:"status"`
				Problems []string `json:"problems"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &r))
			assert.Equal(t, "not ready", r.Status)
			require.Len(t, r.Problems, 1)
			assert.Contains(t, r.Problems[0], tt.want)
		})
	}
}

func TestReadyzWhenDatabaseGone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.pool.Close()
	status, _, body := get(t, f.srv.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, body, "database unreachable")
	// Liveness does not depend on the database.
	status, _, _ = get(t, f.srv.URL+"/healthz")
	assert.Equal(t, http.StatusOK, status)
}
