package fleet

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// A drain request that fails (503) is sent again with backoff, not at every
// reconcile; the instance and the group show the failure until a request
// succeeds, and then the condition clears.
func TestFailingDrainRequestBacksOff(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	h := newHarness(t, base+`
lifecycle:
  drain: {http: {method: PUT, url: "`+srv.URL+`/drain"}, heartbeat: 1h}
`)
	h.reconcile(1)
	h.reconcile(1)
	s := h.reconcile(0)
	id := h.prov.launched[0]
	if calls.Load() != 1 {
		t.Fatalf("%d drain requests, want 1", calls.Load())
	}
	wantCond := "drain request failed once (last: PUT " + srv.URL + "/drain: 503 Service Unavailable); next try after 2026-01-05T00:00:0"
	if in := find(h.instances(), id); !strings.HasPrefix(in.Condition, wantCond) {
		t.Fatalf("condition %q, want it to start with %q", in.Condition, wantCond)
	}
	if len(s.Conditions) != 1 || !strings.HasPrefix(s.Conditions[0], "instance "+id+": "+wantCond) {
		t.Fatalf("group conditions %q", s.Conditions)
	}
	for range 5 { // no time passes: no request
		h.reconcile(0)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d drain requests without time passing, want 1", calls.Load())
	}
	var sent []time.Time
	last := calls.Load()
	for range 120 { // two minutes, a reconcile a second
		h.clock.Advance(time.Second)
		s = h.reconcile(0)
		if n := calls.Load(); n != last {
			sent = append(sent, h.clock.Now())
			last = n
		}
		if n := calls.Load(); n == 3 {
			if in := find(h.instances(), id); !strings.HasPrefix(in.Condition, "drain request failed 3 times (last: PUT ") {
				t.Fatalf("condition after 3 failures %q", in.Condition)
			}
		}
	}
	if calls.Load() != 4 {
		t.Fatalf("%d drain requests (at %v), want 4: three 503s and one 200", calls.Load(), sent)
	}
	// Exponential: each delay is at most 1s, 2s, 4s (full jitter).
	for i, limit := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		prev := t0.Add(0)
		if i > 0 {
			prev = sent[i-1]
		}
		if gap := sent[i].Sub(prev); gap > limit+time.Second {
			t.Errorf("retry %d after %s, want at most %s", i+1, gap, limit)
		}
	}
	in := find(h.instances(), id)
	if in.Condition != "" || in.State != model.Draining || len(s.Conditions) != 0 {
		t.Fatalf("after success: %+v, group conditions %q; want draining, no condition", in, s.Conditions)
	}
}

// The launch-failure condition names the cause, and the delays double from
// backoff.initial, jittered 50–100%.
func TestLaunchFailureConditionCarriesCause(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  launch: {backoff: {initial: 4s, max: 16s}}
`)
	h.prov.failLaunch = true
	var attempts []time.Time
	var s Status
	for range 120 {
		s = h.reconcile(1)
		for len(attempts) < h.prov.launchCalls {
			attempts = append(attempts, h.clock.Now())
		}
		h.clock.Advance(500 * time.Millisecond)
	}
	for i := 1; i < len(attempts); i++ {
		want := min(4*time.Second<<(i-1), 16*time.Second)
		if gap := attempts[i].Sub(attempts[i-1]); gap < want/2 || gap > want+500*time.Millisecond {
			t.Errorf("attempt %d came %s after the previous, want %s–%s", i+1, gap, want/2, want)
		}
	}
	want := strconv.Itoa(len(attempts)) + " launches failed in a row (last: no capacity); next attempt after 2026-01-05T"
	if len(s.Conditions) != 1 || !strings.HasPrefix(s.Conditions[0], want) {
		t.Fatalf("conditions %q, want one starting with %q", s.Conditions, want)
	}
	h.prov.failLaunch = false
	h.clock.Advance(time.Minute)
	h.reconcile(1)
	if s = h.reconcile(1); len(s.Conditions) != 0 || s.InService != 1 {
		t.Fatalf("after a good launch: %+v", s)
	}
}

// A terminate that fails is tried again with backoff, not at every
// reconcile, and shows as the instance's condition until it succeeds.
func TestFailingTerminateBacksOff(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(1)
	h.reconcile(1)
	id := h.prov.launched[0]
	h.prov.failTerminate = 2
	h.prov.kill(id) // exited: stopped and replaced
	h.reconcile(1)
	if h.prov.termCalls != 1 {
		t.Fatalf("%d terminate calls, want 1", h.prov.termCalls)
	}
	in := find(h.instances(), id)
	want := "terminate failed once (last: terminate " + id + ": provider unavailable); next try after 2026-01-05T"
	if in.State != model.Terminating || !strings.HasPrefix(in.Condition, want) {
		t.Fatalf("%+v; want terminating with condition %q", in, want)
	}
	for range 5 {
		h.reconcile(1)
	}
	if h.prov.termCalls != 1 {
		t.Fatalf("%d terminate calls without time passing, want 1", h.prov.termCalls)
	}
	for range 30 {
		h.clock.Advance(time.Second)
		h.reconcile(1)
	}
	if h.prov.termCalls != 3 {
		t.Fatalf("%d terminate calls, want 3: two failures and a success", h.prov.termCalls)
	}
	if in := find(h.instances(), id); in.State != model.Terminated || in.Condition != "" {
		t.Fatalf("%+v; want terminated, no condition", in)
	}
	var open int
	h.st.View(func(tx *store.Tx) error { o, err := tx.OpenIntents("w"); open = len(o); return err })
	if open != 0 {
		t.Fatalf("%d open intents, want none", open)
	}
}

// A drain whose requests keep failing still times out, and the instance
// does not keep the drain's condition once it is stopped.
func TestFailingDrainRequestTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h := newHarness(t, base+`
lifecycle:
  drain: {http: {url: "`+srv.URL+`/drain"}, heartbeat: 10s, timeout: 1m}
`)
	ids := h.inService(1)
	h.reconcile(0)
	for range 7 {
		h.clock.Advance(10 * time.Second)
		h.reconcile(0)
	}
	in := find(h.instances(), ids[0])
	if in.State != model.Terminated || in.Reason != "drain timed out after 1m" || in.Condition != "" {
		t.Fatalf("%+v; want terminated at the timeout, no condition left", in)
	}
	if len(h.r.drainRetry) != 0 {
		t.Fatalf("drain retries left: %v", h.r.drainRetry)
	}
}

// In a graceful stop, drain.timeout does not apply: only grace does.
func TestGracefulStopIgnoresDrainTimeout(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  drain: {timeout: 10s, grace: 30s, heartbeat: 5s}
`)
	ids := h.inService(1)
	h.reconcile(0)
	for range 5 {
		h.clock.Advance(5 * time.Second)
		h.reconcile(0)
	}
	if in := find(h.instances(), ids[0]); in.State != model.Draining {
		t.Fatalf("after 25s: %+v; want draining until grace", in)
	}
	h.clock.Advance(5 * time.Second)
	h.reconcile(0)
	in := find(h.instances(), ids[0])
	if in.State != model.Terminated || in.Reason != "still running 30s after SIGTERM; killed" {
		t.Fatalf("after 30s: %+v; want killed", in)
	}
	if diff := cmp.Diff([]syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, h.prov.signals[ids[0]]); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
}
