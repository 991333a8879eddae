// Package ui is Mentor's web interface: plain ES modules and CSS embedded in the binary,
// so `go build` is the only build and nothing is fetched from a CDN at run time.
//
// Every string a person reads comes from the message catalogs in static/locales
// (zh-CN first, then en); ui_test.go keeps the two catalogs in step.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed static
var files embed.FS

// Static returns the embedded static files, rooted at static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time; this cannot fail at run time
	}
	return sub
}

// asset is one embedded file as it is served: its bytes, an ETag from its content, and a
// gzipped copy made the first time a browser asks for it.
type asset struct {
	name string
	body []byte
	etag string // a strong validator: the first 16 bytes of the content's SHA-256, in hex

	gzipOnce sync.Once
	gzipped  []byte // nil when gzip would not make the file smaller
}

// compressible is what gzip is worth trying on: text. Fonts and images are compressed already.
var compressible = map[string]bool{".js": true, ".css": true, ".json": true, ".html": true, ".svg": true, ".txt": true}

func (a *asset) gzip() []byte {
	a.gzipOnce.Do(func() {
		dot := strings.LastIndexByte(a.name, '.')
		if len(a.body) < 1024 || dot < 0 || !compressible[a.name[dot:]] {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
		_, _ = zw.Write(a.body)                                  // a bytes.Buffer does not fail
		_ = zw.Close()
		if buf.Len() < len(a.body) {
			a.gzipped = buf.Bytes()
		}
	})
	return a.gzipped
}

// Handler serves the single-page shell at / and the assets under /static/.
//
// Assets change with every release, so the browser revalidates each one (no-cache), and
// the ETag makes that revalidation a 304 with no body. Text goes gzipped to browsers that
// accept it: the chart library alone is 1.1 MB, about 360 KB gzipped, which matters on a
// county-town connection. Without the ETag (embedded files have no modification time)
// every page load downloaded every asset again.
func Handler() http.Handler {
	assets := map[string]*asset{}
	static := Static()
	_ = fs.WalkDir(static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		assets[path] = &asset{name: path, body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	}) // the files are embedded at build time: walking them cannot fail at run time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		name := "index.html" // every other path is the single-page app's own route
		if rest, ok := strings.CutPrefix(r.URL.Path, "/static/"); ok {
			name = rest
		}
		a := assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		body, etag := a.body, a.etag
		w.Header().Add("Vary", "Accept-Encoding")
		if gz := a.gzip(); gz != nil && acceptsGzip(r) {
			// A strong ETag names one representation, so the gzipped one gets its own.
			body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gzip"`
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("ETag", etag)
		// ServeContent answers If-None-Match with 304 and sets the type from the name.
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
	})
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
