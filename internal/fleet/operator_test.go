package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// recorder is an Observer that remembers what it heard.
type recorder struct {
	mu     sync.Mutex
	calls  map[string]int // op → calls
	failed map[string]int // op → calls that returned an error
	drains []string
}

func newRecorder() *recorder { return &recorder{calls: map[string]int{}, failed: map[string]int{}} }

func (o *recorder) ProviderCall(op string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[op]++
	if err != nil {
		o.failed[op]++
	}
}

func (o *recorder) DrainEnded(_ time.Duration, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.drains = append(o.drains, result)
}

// inService starts n instances and returns their IDs, oldest first.
func (h *harness) inService(n int) []string {
	h.t.Helper()
	h.reconcile(n)
	h.reconcile(n)
	if got := h.count(model.InService); got != n {
		h.t.Fatalf("%d in service, want %d", got, n)
	}
	return append([]string(nil), h.prov.launched...)
}

func TestOperatorTerminateDrains(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1}
`)
	ids := h.inService(2)
	desired := 2
	var mu sync.Mutex // stands for the daemon's lock on desired
	before := func() error { mu.Lock(); defer mu.Unlock(); desired--; return nil }
	got, err := h.r.Terminate(context.Background(), ids[0], TerminateOptions{Before: before})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.Draining || got.Reason != "terminated by operator" {
		t.Fatalf("Terminate = %+v; want draining, terminated by operator", got)
	}
	_, err = h.r.Terminate(context.Background(), ids[0], TerminateOptions{Before: before})
	if !errors.Is(err, ErrNotInService) || !strings.Contains(err.Error(), "already draining; --now stops it now") {
		t.Fatalf("second Terminate = %v; want ErrNotInService saying --now", err)
	}
	// Desired was lowered under the reconciler's lock: no replacement.
	s, err := h.r.Reconcile(context.Background(), func() int { mu.Lock(); defer mu.Unlock(); return desired })
	if err != nil {
		t.Fatal(err)
	}
	if s.Desired != 1 || len(h.prov.launched) != 2 {
		t.Fatalf("%+v, %d launches; want desired 1 and no replacement", s, len(h.prov.launched))
	}
}

func TestOperatorTerminateLaunching(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  launch: {ready: {command: [/bin/sh, -c, "exit 1"]}}
  drain: {signal: SIGUSR1}
`)
	h.reconcile(1)
	got, err := h.r.Terminate(context.Background(), h.prov.launched[0], TerminateOptions{})
	if err != nil || got.State != model.Draining {
		t.Fatalf("Terminate(launching) = %+v, %v; want draining", got, err)
	}
}

// With Now, every live state is stopped at once, a stuck drain included.
func TestOperatorTerminateNow(t *testing.T) {
	for _, state := range []model.InstanceState{model.Launching, model.InService, model.Draining, model.Terminating} {
		t.Run(string(state), func(t *testing.T) {
			h := newHarness(t, base+`
lifecycle:
  launch: {ready: {command: [/bin/sh, -c, "test -e `+t.TempDir()+`/never"]}}
  drain: {signal: SIGUSR1, timeout: 1h}
`)
			obs := newRecorder()
			h.opt.Observe = obs
			h.restart()
			h.reconcile(1)
			id := h.prov.launched[0]
			switch state {
			case model.InService, model.Draining, model.Terminating:
				in := find(h.instances(), id)
				in.State, in.ReadyAt = model.InService, t0
				if err := h.r.put(in); err != nil {
					t.Fatal(err)
				}
			}
			switch state {
			case model.Draining:
				h.reconcile(0) // drains; the fake ignores SIGUSR1
			case model.Terminating:
				h.prov.failTerminate = 1
				h.prov.kill(id)
				h.reconcile(1) // unhealthy → terminating; the terminate fails
				h.prov.alive[id] = true
			}
			if in := find(h.instances(), id); in.State != state {
				t.Fatalf("setup: %+v, want %s", in, state)
			}
			before := 0
			got, err := h.r.Terminate(context.Background(), id, TerminateOptions{Now: true, Before: func() error { before++; return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if got.State != model.Terminated || got.Reason != "terminated now by operator" || got.Condition != "" {
				t.Fatalf("Terminate(now) = %+v; want terminated now by operator", got)
			}
			if before != 1 || h.prov.kills[id] != 1 {
				t.Fatalf("Before called %d times, instance killed %d times; want 1 and 1", before, h.prov.kills[id])
			}
			wantDrains := []string(nil)
			if state == model.Draining {
				wantDrains = []string{"operator"}
			}
			if diff := cmp.Diff(wantDrains, obs.drains); diff != "" {
				t.Errorf("drains ended (-want +got):\n%s", diff)
			}
			h.reconcile(0) // the old intents close without acting again
			if h.prov.kills[id] != 1 {
				t.Fatalf("killed %d times, want 1", h.prov.kills[id])
			}
		})
	}
}

func TestOperatorTerminateRefuses(t *testing.T) {
	h := newHarness(t, base)
	ids := h.inService(1)
	boom := errors.New("desired already at min")
	_, err := h.r.Terminate(context.Background(), ids[0], TerminateOptions{Before: func() error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Terminate with a failing Before = %v, want it wrapped", err)
	}
	if in := find(h.instances(), ids[0]); in.State != model.InService {
		t.Fatalf("%+v changed although Before failed", in)
	}
	if _, err := h.r.Terminate(context.Background(), ids[0], TerminateOptions{Now: true}); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []TerminateOptions{{}, {Now: true}} {
		if _, err := h.r.Terminate(context.Background(), ids[0], opt); !errors.Is(err, ErrNotInService) || !strings.Contains(err.Error(), "is terminated") {
			t.Errorf("Terminate(terminated, now=%t) = %v, want ErrNotInService", opt.Now, err)
		}
	}
}

func TestOperatorUnknownInstance(t *testing.T) {
	h := newHarness(t, base)
	h.inService(1)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Drain":     func() error { return h.r.Drain(ctx, "nope") },
		"Terminate": func() error { _, err := h.r.Terminate(ctx, "nope", TerminateOptions{}); return err },
		"Protect":   func() error { _, err := h.r.Protect("nope"); return err },
		"Unprotect": func() error { _, err := h.r.Unprotect("nope"); return err },
	} {
		if err := call(); !errors.Is(err, ErrNoInstance) || !strings.Contains(err.Error(), `no instance "nope"`) {
			t.Errorf("%s(nope) = %v, want ErrNoInstance", name, err)
		}
	}
}

func TestOperatorProtect(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1}
`)
	ids := h.inService(2)
	got, err := h.r.Protect(ids[0]) // the oldest: scale-in's first pick
	if err != nil || !got.Protected {
		t.Fatalf("Protect = %+v, %v", got, err)
	}
	h.restart() // recorded
	h.reconcile(1)
	if in := find(h.instances(), ids[0]); in.State != model.InService || !in.Protected {
		t.Fatalf("protected instance %+v; want it kept in service", in)
	}
	if in := find(h.instances(), ids[1]); in.State != model.Draining {
		t.Fatalf("unprotected instance %+v; want it drained instead", in)
	}
	if got, err := h.r.Unprotect(ids[0]); err != nil || got.Protected {
		t.Fatalf("Unprotect = %+v, %v", got, err)
	}
	h.reconcile(0)
	if in := find(h.instances(), ids[0]); in.State != model.Draining {
		t.Fatalf("unprotected instance %+v; want it drained", in)
	}
}

// Reconcile reads desired with the lock held, so the daemon can lower it
// under the same lock.
func TestReconcileReadsDesiredUnderLock(t *testing.T) {
	h := newHarness(t, base)
	locked := false
	if _, err := h.r.Reconcile(context.Background(), func() int {
		if h.r.mu.TryLock() {
			h.r.mu.Unlock()
		} else {
			locked = true
		}
		return 1
	}); err != nil {
		t.Fatal(err)
	}
	if !locked {
		t.Fatal("desired was read without the reconciler's lock")
	}
}

// A reload that shortens the drain timeout applies to an instance already
// draining, and the reconciler keeps its state (here, a drain request's
// retry backoff).
func TestUpdateAppliesToDrainsUnderWay(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1, heartbeat: 10s, timeout: 1h}
`)
	ids := h.inService(1)
	h.reconcile(0) // draining; the fake ignores SIGUSR1 and stays busy
	h.clock.Advance(10 * time.Second)
	h.reconcile(0)
	h.r.drainRetry["kept"] = newRetry(time.Second, time.Second, fullJitter)
	spec := specFor(t, base+`
lifecycle:
  drain: {signal: SIGUSR1, heartbeat: 10s, timeout: 1m}
`)
	if err := h.r.Update(spec, h.prov); err != nil {
		t.Fatal(err)
	}
	if in := find(h.instances(), ids[0]); in.State != model.Draining {
		t.Fatalf("%+v; want still draining right after the update", in)
	}
	for range 6 {
		h.clock.Advance(10 * time.Second)
		h.reconcile(0)
	}
	in := find(h.instances(), ids[0])
	if in.State != model.Terminated || in.Reason != "drain timed out after 1m" || h.prov.kills[ids[0]] != 1 {
		t.Fatalf("%+v; want terminated after the new 1m timeout", in)
	}
	if h.r.drainRetry["kept"] == nil {
		t.Fatal("Update dropped the reconciler's state")
	}
	other := specFor(t, strings.Replace(base, "name: w", "name: other", 1))
	if err := h.r.Update(other, h.prov); err == nil {
		t.Fatal("Update with another group's spec succeeded")
	}
}

// The Observer hears every provider call by operation, failures included,
// and how each drain ended.
func TestObserverHearsCallsAndDrains(t *testing.T) {
	rs := newReadyServer(t)
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1, busy: {http: "`+rs.srv.URL+`/busy", path: busy}, heartbeat: 10s, timeout: 1m, on_timeout: continue}
`)
	obs := newRecorder()
	h.opt.Observe = obs
	h.restart()
	h.inService(3) // launch ×3, then alive
	rs.busy.Store(true)
	h.reconcile(2) // drains one: signal
	for _, in := range h.instances() {
		if in.State == model.Draining {
			h.prov.kill(in.ID)
		}
	}
	h.clock.Advance(10 * time.Second)
	h.reconcile(2) // it exited: gone
	h.reconcile(1) // drains the next
	for range 7 {  // busy past the timeout: timeout, terminate
		h.clock.Advance(10 * time.Second)
		h.reconcile(1)
	}
	rs.busy.Store(false)
	h.reconcile(0) // drains the last
	h.clock.Advance(10 * time.Second)
	h.reconcile(0) // idle: drained, terminate
	h.prov.failLaunch = true
	h.reconcile(1)
	if diff := cmp.Diff([]string{"gone", "timeout", "drained"}, obs.drains); diff != "" {
		t.Errorf("drains ended (-want +got):\n%s", diff)
	}
	for _, op := range []string{"launch", "alive", "signal", "terminate"} {
		if obs.calls[op] == 0 {
			t.Errorf("no %s call observed: %v", op, obs.calls)
		}
	}
	if obs.failed["launch"] != 1 || obs.calls["launch"] != 4 {
		t.Errorf("launch calls %d (%d failed), want 4 (1 failed)", obs.calls["launch"], obs.failed["launch"])
	}
	if _, err := h.r.Adopt(context.Background()); err != nil {
		t.Fatal(err)
	}
	if obs.calls["list"] != 1 {
		t.Errorf("list calls %d, want 1", obs.calls["list"])
	}
}
