// Package ui is Mentor's web interface: plain ES modules and CSS embedded in the binary,
// so `go build` is the only build and nothing is fetched from a CDN at run time.
//
// Every string a person reads comes from the message catalogs in static/locales
// (zh-CN first, then en); ui_test.go keeps the two catalogs in step.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
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

// Handler serves the single-page shell at / and the assets under /static/.
func Handler() http.Handler {
	static := Static()
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets are small and change with every release; revalidating keeps a trainer from
		// running yesterday's script against today's API.
		w.Header().Set("Cache-Control", "no-cache")
		if strings.HasPrefix(r.URL.Path, "/static/") {
			fileServer.ServeHTTP(w, r)
			return
		}
		http.ServeFileFS(w, r, static, "index.html")
	})
}
