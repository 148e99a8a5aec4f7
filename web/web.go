// Package web is earshot's browser playground: one page, served at / by
// earshot serve, that uploads, records or streams audio to the same /v1
// routes every client uses and shows raw, clean and agent output side by
// side, with the exact request to copy into code.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary: no
// build step, no CDN, it works offline. It holds no privileges of its own:
// it asks for the API key and keeps it in the tab's sessionStorage only.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is where the page's assets are served; the page itself is at /.
const Prefix = "/playground/"

// Handler serves the page at / and its assets under Prefix.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	assets := http.StripPrefix(Prefix, http.FileServerFS(files))
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", policy(r))
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/":
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(index)
		case strings.HasPrefix(r.URL.Path, Prefix) && path.Ext(r.URL.Path) != "" && r.URL.Path != Prefix+"index.html":
			assets.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// policy lets the page load only its own scripts and styles, and talk only
// to its own server (fetch, and the live WebSocket, named explicitly for
// browsers whose 'self' does not cover ws: and wss:). Recordings play
// from blob: URLs.
func policy(r *http.Request) string {
	ws := "ws://" + r.Host
	if r.TLS != nil {
		ws = "wss://" + r.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"media-src 'self' blob:; connect-src 'self' " + ws + "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}
