package fleet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Trino's graceful shutdown: the drain is an HTTP request with a body and
// the user header Trino requires, and the busy probe reads a number from
// the instance's JSON status, with its own headers.
func TestHTTPDrainAndJSONBusyProbe(t *testing.T) {
	t.Setenv("EBB_TEST_PROBE_KEY", "k-123")
	var mu sync.Mutex
	var got []string
	drivers := 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/info/state":
			if r.Header.Get("X-Trino-User") == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			b, _ := io.ReadAll(r.Body)
			got = append(got, r.Method+" "+r.Header.Get("X-Trino-User")+" "+string(b))
		case "/v1/status":
			if r.Header.Get("X-Probe-Key") != "k-123" {
				http.Error(w, "Forbidden", http.StatusForbidden)
				return
			}
			json.NewEncoder(w).Encode(map[string]int{"runningDrivers": drivers})
		}
	}))
	defer srv.Close()
	h := newHarness(t, base+`
lifecycle:
  drain:
    http: {method: PUT, url: "`+srv.URL+`/v1/info/state", body: '"SHUTTING_DOWN"', headers: {X-Trino-User: {value: ebb}}}
    busy: {http: "`+srv.URL+`/v1/status", path: runningDrivers, headers: {X-Probe-Key: {env: EBB_TEST_PROBE_KEY}}}
    heartbeat: 10s
`)
	h.reconcile(1)
	h.reconcile(1)
	h.reconcile(0)
	mu.Lock()
	if len(got) != 1 || got[0] != `PUT ebb "SHUTTING_DOWN"` {
		t.Fatalf("drain requests %q", got)
	}
	mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(0) // 3 drivers: busy
	if n := h.count(model.Draining); n != 1 {
		t.Fatalf("draining %d, want 1 while drivers run", n)
	}
	mu.Lock()
	drivers = 0
	mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(0)
	if n := h.count(model.Terminated); n != 1 {
		t.Fatalf("terminated %d, want the idle instance stopped", n)
	}
}

func TestHealthCheckReplaces(t *testing.T) {
	var healthy sync.Map // instance ID → bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := healthy.Load(r.URL.Query().Get("id")); ok != true {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	h := newHarness(t, base+`
lifecycle:
  health: {check: {http: "`+srv.URL+`/health?id={{.ID}}"}, grace: 30s, failures: 3}
`)
	h.reconcile(2)
	h.reconcile(2)
	sick, well := h.prov.launched[0], h.prov.launched[1]
	healthy.Store(well, true)
	for i := 0; i < 3; i++ { // within grace: failures do not count
		h.clock.Advance(5 * time.Second)
		h.reconcile(2)
	}
	if in := find(h.instances(), sick); in.State != model.InService {
		t.Fatalf("failed checks counted within the grace period: %+v", in)
	}
	h.clock.Advance(30 * time.Second)
	for i := 0; i < 3; i++ {
		h.reconcile(2)
	}
	if in := find(h.instances(), sick); in.State != model.Terminated || !strings.Contains(in.Reason, "failed 3 health checks") {
		t.Fatalf("sick instance %+v", in)
	}
	if in := find(h.instances(), well); in.State != model.InService {
		t.Fatalf("healthy instance %+v", in)
	}
	if len(h.prov.launched) != 3 {
		t.Fatalf("%d launches, want a replacement", len(h.prov.launched))
	}
}

func TestLeastBusySelection(t *testing.T) {
	var busy sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := busy.Load(r.URL.Query().Get("id"))
		json.NewEncoder(w).Encode(map[string]any{"busy": b == true})
	}))
	defer srv.Close()
	h := newHarness(t, base+`
lifecycle:
  select: least_busy
  drain: {signal: SIGUSR1, busy: {http: "`+srv.URL+`/busy?id={{.ID}}", path: busy}}
`)
	h.reconcile(3)
	h.reconcile(3)
	ids := h.prov.launched
	busy.Store(ids[0], true) // the oldest is busy; the other two are idle
	busy.Store(ids[2], true)
	h.reconcile(2)
	var drained []string
	for _, in := range h.instances() {
		if in.State == model.Draining || in.State == model.Terminated {
			drained = append(drained, in.ID)
		}
	}
	if len(drained) != 1 || drained[0] != ids[1] {
		t.Fatalf("drained %v, want the idle %s", drained, ids[1])
	}
}

func TestCommandReadinessProbe(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  launch: {ready: {command: [/bin/sh, -c, "exit 1"]}, timeout: 30s}
`)
	h.reconcile(1)
	h.reconcile(1)
	if n := h.count(model.Launching); n != 1 {
		t.Fatalf("launching %d: a failing ready command must keep it out of service", n)
	}
	h.clock.Advance(31 * time.Second)
	h.reconcile(1)
	if in := find(h.instances(), h.prov.launched[0]); in.State != model.Failed || in.Reason != "not ready within 30s" || h.prov.kills[in.ID] != 1 {
		t.Fatalf("%+v", in)
	}
}

// Every way a launch fails ends in failed, with its reason: terminal,
// never counted, pruned like terminated records.
func TestFailedLaunchesEndFailed(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(h *harness)
		wantReason string
		wantKills  int
	}{
		{
			name:       "provider refuses",
			setup:      func(h *harness) { h.prov.failLaunch = true; h.reconcile(1) },
			wantReason: "launch: no capacity",
		},
		{
			name: "exits before ready",
			setup: func(h *harness) {
				h.reconcile(1)
				h.prov.kill(h.prov.launched[0])
				h.reconcile(1)
			},
			wantReason: "exited before it was ready",
		},
		{
			name: "not ready in time",
			setup: func(h *harness) {
				h.reconcile(1)
				h.clock.Advance(31 * time.Second)
				h.reconcile(1)
			},
			wantReason: "not ready within 30s",
			wantKills:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, base+`
lifecycle:
  launch: {ready: {command: [/bin/sh, -c, "exit 1"]}, timeout: 30s, backoff: {initial: 1h, max: 1h}}
`)
			tt.setup(h)
			insts := h.instances()
			if len(insts) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(insts), insts)
			}
			in := insts[0]
			if in.State != model.Failed || in.Reason != tt.wantReason {
				t.Fatalf("%+v; want failed: %s", in, tt.wantReason)
			}
			if got := h.prov.kills[in.ID]; got != tt.wantKills {
				t.Errorf("terminated %d times, want %d", got, tt.wantKills)
			}
			if s := h.reconcile(1); s.Launching+s.InService+s.Draining+s.Terminating != 0 {
				t.Errorf("a failed launch counts: %+v", s)
			}
			if in := find(h.instances(), in.ID); in.State != model.Failed {
				t.Errorf("failed is not terminal: %+v", in)
			}
			h.clock.Advance(time.Hour + time.Minute)
			h.prov.failLaunch = true
			h.reconcile(1)
			if got := find(h.instances(), in.ID); got.ID != "" {
				t.Errorf("failed record kept past KeepTerminated: %+v", got)
			}
		})
	}
}
