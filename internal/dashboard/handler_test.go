package dashboard_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/dashboard"
)

func TestHandlerServesTheFiles(t *testing.T) {
	h := dashboard.Handler()
	get := func(path string, header ...string) *http.Response {
		r := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	tests := []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/", "text/html; charset=utf-8", `<script src="assets/app.js" defer></script>`, 200},
		{"/assets/app.js", "text/javascript; charset=utf-8", "textContent", 200},
		{"/assets/style.css", "text/css; charset=utf-8", "@media (max-width: 720px)", 200},
		{"/assets/vendor/uplot.min.js", "text/javascript; charset=utf-8", "uPlot (v1.6.32)", 200},
		{"/assets/vendor/LICENSE", "text/plain; charset=utf-8", "Leon Sorokin", 200},
		{"/assets/vendor/README.md", "", "", 404},
		{"/assets/", "", "", 404},
		{"/index.html", "", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := get(tt.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.code != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != dashboard.CSP || !strings.Contains(got, "script-src 'self'") {
				t.Errorf("CSP %q", got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}

	// Compressed for a browser that accepts it, with its own ETag; an
	// unchanged file is a 304.
	plain := get("/assets/vendor/uplot.min.js")
	gz := get("/assets/vendor/uplot.min.js", "Accept-Encoding", "gzip, deflate, br")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("gzip: encoding %q, ETag %q (plain %q)", gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	want, _ := io.ReadAll(plain.Body)
	if string(unzipped) != string(want) {
		t.Error("the gzipped file differs from the file")
	}
	if again := get("/assets/vendor/uplot.min.js", "If-None-Match", plain.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", again.StatusCode)
	}
	if got := get("/", "Accept-Encoding", "gzip;q=0").Header.Get("Content-Encoding"); got != "" {
		t.Errorf("gzip;q=0 got %q", got)
	}
}
