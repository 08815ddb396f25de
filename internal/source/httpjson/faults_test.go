package httpjson

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

func TestFaults(t *testing.T) {
	status := func(code int, n *atomic.Int64) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if code == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	body := func(doc string, n *atomic.Int64) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			_, _ = w.Write([]byte(doc))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	tests := []struct {
		name    string
		url     func(n *atomic.Int64) string // counts attempts in n
		tries   int
		want    string // in Value.Err and Health.LastError
		noValue bool
		perRead bool  // the call succeeded; only this read failed, so the source stays healthy
		calls   int64 // attempts the server saw (-1: not counted)
	}{
		{name: "hangs", url: func(n *atomic.Int64) string { return "http://" + hanging(t, n) }, tries: 2, want: "context deadline exceeded", calls: 2},
		{name: "503", url: func(n *atomic.Int64) string { return status(503, n) }, tries: 3, want: "503 Service Unavailable", calls: 3},
		{name: "429", url: func(n *atomic.Int64) string { return status(429, n) }, tries: 2, want: "429 Too Many Requests", calls: 2},
		{name: "404 is not retried", url: func(n *atomic.Int64) string { return status(404, n) }, tries: 3, want: "404 Not Found", calls: 1},
		{name: "closed port", url: func(n *atomic.Int64) string { return "http://" + closedPort(t) }, tries: 2, want: "connection refused", calls: -1},
		{name: "not JSON is not retried", url: func(n *atomic.Int64) string { return body("<html>", n) }, tries: 3, want: "not JSON", calls: 1},
		{name: "not a number", url: func(n *atomic.Int64) string { return body(`{"x": {"y": 1}}`, n) }, tries: 3, want: "object, not a number", perRead: true, calls: 1},
		{name: "absent", url: func(n *atomic.Int64) string { return body(`{"y": 1}`, n) }, tries: 3, want: `no "x" in the answer`, noValue: true, perRead: true, calls: 1},
		{name: "null", url: func(n *atomic.Int64) string { return body(`{"x": null}`, n) }, tries: 3, want: "null", noValue: true, perRead: true, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			url := tt.url(&n)
			conn := defaults()
			conn.Timeout, conn.Tries = config.Duration(200*time.Millisecond), tt.tries
			src := openSource(t, conn)
			start := time.Now()
			v := read(t, src, source.Request{Group: "g", Query: &Query{URL: url + "/x", Path: "x"}})[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", v.Err, tt.want)
			}
			if got := errors.Is(v.Err, source.ErrNoValue); got != tt.noValue {
				t.Errorf("no value = %v, want %v (%v)", got, tt.noValue, v.Err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if seen := n.Load(); tt.calls >= 0 && seen != tt.calls {
				t.Errorf("server saw %d attempts, want %d", n.Load(), tt.calls)
			}
			h := src.Health()
			if tt.perRead {
				if h.Failing {
					t.Errorf("a read failing in a good answer marks the source failing: %+v", h)
				}
				return
			}
			if !h.Failing || !strings.Contains(h.LastError, tt.want) {
				t.Errorf("health = %+v, want failing with %q", h, tt.want)
			}
			if tt.calls > 0 && h.Calls != uint64(tt.calls) {
				t.Errorf("health counts %d calls, want %d", h.Calls, tt.calls)
			}
		})
	}
}
