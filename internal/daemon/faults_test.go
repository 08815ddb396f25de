package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// backend is a loopback JSON endpoint whose answers a test switches
// between a value and each way a backend fails. It counts the calls.
type backend struct {
	mu    sync.Mutex
	mode  string // ok, error, throttle, unavailable, hang
	value float64
	calls int
}

func (b *backend) set(mode string, v float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mode, b.value, b.calls = mode, v, 0
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.calls++
	mode, v := b.mode, b.value
	b.mu.Unlock()
	switch mode {
	case "error":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "throttle":
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "unavailable":
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case "hang":
		<-r.Context().Done()
	default:
		fmt.Fprintf(w, `{"groups": {"q": {"backlog": %v}}}`, v)
	}
}

// Whatever way a backend fails — errors, throttling, hanging, gone — the
// group's read is retried a bounded number of times, the signal counts as
// missing, the group holds (never scales in on a missing signal) and shows
// why; once the backend answers again, its value is used at once.
func TestBackendFaultsNeverScaleIn(t *testing.T) {
	for _, tt := range []struct {
		fault string
		calls int    // calls one read makes: the source's tries
		cause string // in the condition
	}{
		{fault: "error", calls: 3, cause: "500 Internal Server Error"},
		{fault: "throttle", calls: 3, cause: "429 Too Many Requests"},
		{fault: "unavailable", calls: 3, cause: "503 Service Unavailable"},
		{fault: "hang", calls: 3, cause: "context deadline exceeded"},
		{fault: "gone", calls: 3, cause: "connection refused"},
	} {
		t.Run(tt.fault, func(t *testing.T) {
			b := &backend{}
			srv := httptest.NewServer(b)
			defer srv.Close()
			// The group would scale in on a low backlog at once: no
			// stabilization window, no rate limit.
			group := fmt.Sprintf(`
  - name: q
    capacity: {min: 1, max: 10, initial: 6}
    interval: 10s
    signals:
      backlog: {source: api, http_json: {url: %q, path: "groups.{{.Group}}.backlog"}, stale: 15s}
    policies:
      - queue: {signal: backlog, per_instance: 10}
    behavior:
      down: {window: 0s}
`, srv.URL+"/stats")
			h := newHarnessWith(t, "  api: {http_json: {timeout: 200ms, tries: 3}}\n", group, Options{})

			b.set("ok", 60)
			if dec := h.decide("q", 0); dec.Desired != 6 {
				t.Fatalf("with a backlog of 60: desired %d, want 6", dec.Desired)
			}

			b.set(tt.fault, 0)
			if tt.fault == "gone" {
				srv.Close()
			}
			// The first failed read leaves the last value, 10s old, within
			// its stale time of 15s; from the second on, it is missing.
			for i := range 3 {
				dec := h.decide("q", 10*time.Second)
				if dec.Desired != 6 || len(dec.Inputs) != 1 || dec.Inputs[0].Missing != (i > 0) {
					t.Fatalf("read %d while the backend fails: desired %d, inputs %+v; want 6 held, backlog missing from the second", i+1, dec.Desired, dec.Inputs)
				}
				if tt.fault != "gone" && b.count() != tt.calls*(i+1) {
					t.Fatalf("%d calls after %d reads; want %d per read", b.count(), i+1, tt.calls)
				}
			}
			view, err := h.d.Group("q")
			if err != nil {
				t.Fatal(err)
			}
			cond := strings.Join(view.Conditions, "\n")
			if !strings.Contains(cond, "signal backlog: 3 reads failed in a row") || !strings.Contains(cond, tt.cause) {
				t.Errorf("conditions:\n%s\nwant the failing signal with %q", cond, tt.cause)
			}
			hs := h.d.Sources()
			if len(hs) != 1 || hs[0].Name != "api" || !hs[0].Failing || !strings.Contains(hs[0].LastError, tt.cause) {
				t.Errorf("sources = %+v; want api failing with %q", hs, tt.cause)
			}
			up := testutil.ToFloat64(sourceUp{h.d, "api"})
			if up != 0 {
				t.Errorf("ebb_source_up{source=\"api\"} = %v while it fails; want 0", up)
			}
			if tt.fault == "gone" {
				return
			}

			// The backend answers again, with a low backlog: the group
			// scales in at the next decision, so the holds above were
			// the missing-data rule, not a group that could not move.
			b.set("ok", 15)
			if dec := h.decide("q", 10*time.Second); dec.Desired != 2 {
				t.Fatalf("after the backend recovered with a backlog of 15: desired %d, want 2", dec.Desired)
			}
			if hs := h.d.Sources(); hs[0].Failing {
				t.Errorf("api still failing after a good call: %+v", hs[0])
			}
			if up := testutil.ToFloat64(sourceUp{h.d, "api"}); up != 1 {
				t.Errorf("ebb_source_up{source=\"api\"} = %v after a good call; want 1", up)
			}
		})
	}
}

// sourceUp collects the daemon's ebb_source_up of one source alone.
type sourceUp struct {
	d    *Daemon
	name string
}

func (s sourceUp) Describe(ch chan<- *prometheus.Desc) { ch <- descSourceUp }

func (s sourceUp) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 1000)
	groupCollector{s.d}.Collect(all)
	close(all)
	for m := range all {
		var pb dto.Metric
		if m.Desc() != descSourceUp || m.Write(&pb) != nil {
			continue
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "source" && l.GetValue() == s.name {
				ch <- m
			}
		}
	}
}

// A reload keeps a source whose settings did not change — its connections
// and its health — and opens afresh one whose settings did; a source no
// group uses any more is closed and no longer shown.
func TestReloadKeepsUnchangedSources(t *testing.T) {
	b := &backend{}
	b.set("ok", 30)
	srv := httptest.NewServer(b)
	defer srv.Close()
	group := fmt.Sprintf(`
  - name: q
    capacity: {min: 1, max: 10}
    interval: 10s
    signals:
      backlog: {source: api, http_json: {url: %q, path: "groups.{{.Group}}.backlog"}}
    policies:
      - queue: {signal: backlog, per_instance: 10}
`, srv.URL)
	sources := "  api: {http_json: {timeout: 2s}}\n  spare: {http_json: {timeout: 2s}}\n"
	h := newHarnessWith(t, sources, group, Options{})
	h.decide("q", 0)
	health := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, s := range h.d.Sources() {
			out[s.Name] = s.Calls
		}
		return out
	}
	if got := health(); got["api"] != 1 || len(got) != 2 {
		t.Fatalf("sources after one read: %v; want api with 1 call, and spare", got)
	}

	// The same settings written again, the spare dropped: api keeps its
	// count.
	h.write(configWith(h.dir, "  api: {http_json: {timeout: 2s}}\n", group))
	h.reload()
	if got := health(); got["api"] != 1 || len(got) != 1 {
		t.Fatalf("sources after a reload that kept api: %v; want api with its 1 call, spare gone", got)
	}
	h.decide("q", 10*time.Second)
	if got := health(); got["api"] != 2 {
		t.Fatalf("api after a second read: %v; want 2 calls", got)
	}

	// New settings: a new source, counting from 0.
	h.write(configWith(h.dir, "  api: {http_json: {timeout: 3s}}\n", group))
	h.reload()
	if got := health(); got["api"] != 0 {
		t.Fatalf("api after a reload that changed its timeout: %v; want it opened afresh", got)
	}
	if dec := h.decide("q", 10*time.Second); dec.Desired != 3 || dec.Inputs[0].Missing {
		t.Fatalf("after the reload: %+v; want the new source read (backlog 30 → 3)", dec)
	}
}
