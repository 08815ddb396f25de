// Package dashboard is ebb's web page: plain HTML, CSS and JavaScript with
// uPlot for the charts, embedded in the binary, with no build step and
// nothing fetched from elsewhere. The page reads the API (internal/server)
// like any client, listens to its event stream for changes, and sends its
// actions with the API's bearer token, which the user types in and the page
// keeps in sessionStorage.
//
// Every answer carries a Content-Security-Policy that allows scripts, styles
// and requests from the page's own origin only: no inline script can run,
// so text from signals, reasons or errors that reached the page could not
// run even if it were ever inserted as HTML (app.js inserts it as text).
package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// CSP is the Content-Security-Policy of the page and its assets.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one asset, ready to serve: its bytes, an ETag, and, the first
// time a browser asks for it, its gzipped bytes when that is smaller. The
// compression waits for the first request so that building the API (at
// every start, and when a replica takes the lead) costs nothing.
type file struct {
	name string
	body []byte
	gz   func() []byte // nil when not worth it
	etag string        // of body; gz's is etag with "-gz" before the closing quote
	ctyp string
}

// Handler serves the page at "/" and its files under "/assets/"; anything
// else is a 404. The files are prepared (hashed, compressed) once per
// process, however many API handlers are built.
func Handler() http.Handler { return handler() }

var handler = sync.OnceValue(build)

func build() http.Handler {
	files := map[string]*file{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		files["/"+p] = prepare(p, b)
		return nil
	})
	if err != nil {
		panic("dashboard: read embedded assets: " + err.Error()) // embedded at build time: cannot fail
	}
	files["/"] = files["/assets/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok || strings.HasSuffix(r.URL.Path, ".md") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidated every time (a 304 when unchanged), so a new ebb's
		// page never runs with an old script.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", f.ctyp)
		h.Add("Vary", "Accept-Encoding")
		body, etag := f.body, f.etag
		if f.gz != nil && acceptsGzip(r) {
			if gz := f.gz(); gz != nil {
				h.Set("Content-Encoding", "gzip")
				body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
	})
}

func prepare(p string, b []byte) *file {
	sum := sha256.Sum256(b)
	f := &file{name: path.Base(p), body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	if f.ctyp = mime.TypeByExtension(path.Ext(p)); f.ctyp == "" {
		f.ctyp = "text/plain; charset=utf-8" // LICENSE
	}
	if strings.HasPrefix(f.ctyp, "text/html") || strings.HasPrefix(f.ctyp, "text/css") ||
		strings.HasPrefix(f.ctyp, "text/javascript") || strings.HasPrefix(f.ctyp, "application/javascript") {
		f.gz = sync.OnceValue(func() []byte {
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			if gz.Len() >= len(b) {
				return nil
			}
			return gz.Bytes()
		})
	}
	return f
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
