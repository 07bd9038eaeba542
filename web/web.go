package web

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed device demo
var files embed.FS

// csp is the Content-Security-Policy of every page and asset: scripts,
// styles and connections only from this origin, and no inline script.
// Images may also come over https, for a client's logo_uri.
const csp = "default-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// DeviceApp serves the authentication-device web app: GET /device is the
// app, GET /device/{file} its assets. The device API below /device/v1 is
// routed elsewhere.
func DeviceApp() http.Handler { return pages("device") }

// DemoPages serves the demo console's page and assets: GET /demo and
// GET /demo/{file}.
func DemoPages() http.Handler { return pages("demo") }

// pages serves dir/index.html for the bare /dir path and dir/{file} for
// the assets; anything else is 404.
func pages(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "" {
			name = "index.html"
		}
		b, err := fs.ReadFile(files, path.Join(dir, name))
		if err != nil || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		ct := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) {
		case ".webmanifest":
			ct = "application/manifest+json"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		}
		h.Set("Content-Type", ct)
		if name == "sw.js" {
			// The worker lives at /device/sw.js but controls /device
			// itself, the page the enrolment link opens.
			h.Set("Service-Worker-Allowed", "/"+dir)
		}
		w.Write(b)
	})
}
