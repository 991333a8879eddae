package ui_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/ui"
)

func get(t *testing.T, h http.Handler, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func bodyOf(t *testing.T, res *http.Response) []byte {
	t.Helper()
	var r io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		require.NoError(t, err)
		r = zr
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// TestAssetsAreRevalidatedAndCompressed: a revalidation is a 304 with no body, and text is
// gzipped for browsers that accept it. Before, embedded files had no validator, so every
// page load downloaded every asset (the chart library is 1.1 MB) again.
func TestAssetsAreRevalidatedAndCompressed(t *testing.T) {
	t.Parallel()
	h := ui.Handler()
	chartLib, err := fs.ReadFile(ui.Static(), "vendor/echarts/echarts.esm.min.js")
	require.NoError(t, err)
	index, err := fs.ReadFile(ui.Static(), "index.html")
	require.NoError(t, err)

	cases := []struct {
		name, path, encoding string
		wantGzip             bool
		want                 []byte
	}{
		{"gzip for a browser that accepts it", "/static/vendor/echarts/echarts.esm.min.js", "gzip, deflate, br", true, chartLib},
		{"identity for one that does not", "/static/vendor/echarts/echarts.esm.min.js", "", false, chartLib},
		{"identity when gzip is refused", "/static/vendor/echarts/echarts.esm.min.js", "gzip;q=0, br", false, chartLib},
		{"the app's own routes get the shell", "/projects/7/train", "gzip", len(index) >= 1024, index},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, tc.path, map[string]string{"Accept-Encoding": tc.encoding})
			require.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, tc.wantGzip, res.Header.Get("Content-Encoding") == "gzip")
			assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			etag := res.Header.Get("ETag")
			require.NotEmpty(t, etag)
			got := bodyOf(t, res)
			assert.True(t, bytes.Equal(tc.want, got), "the body is the embedded file")

			again := get(t, h, tc.path, map[string]string{"Accept-Encoding": tc.encoding, "If-None-Match": etag})
			assert.Equal(t, http.StatusNotModified, again.StatusCode)
			assert.Empty(t, bodyOf(t, again))
		})
	}

	plain := get(t, h, "/static/vendor/echarts/echarts.esm.min.js", nil)
	zipped := get(t, h, "/static/vendor/echarts/echarts.esm.min.js", map[string]string{"Accept-Encoding": "gzip"})
	assert.NotEqual(t, plain.Header.Get("ETag"), zipped.Header.Get("ETag"), "each representation has its own strong ETag")
	assert.Less(t, zipped.ContentLength, plain.ContentLength/2)
}

func TestMissingAssetsAreNotFound(t *testing.T) {
	t.Parallel()
	h := ui.Handler()
	for _, path := range []string{"/static/nothing.js", "/static/pages/", "/static/../ui.go"} {
		assert.Equal(t, http.StatusNotFound, get(t, h, path, nil).StatusCode, path)
	}
}
