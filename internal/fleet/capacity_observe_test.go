package fleet

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// fullSystem has every optional capability of a capacity provider: hooks,
// its own drain and scale-in protection; its heartbeats fail on demand.
type fullSystem struct {
	*hookedSystem
	mu        sync.Mutex
	busy      bool
	failBeats bool
}

func (f *fullSystem) Drains() bool                                       { return true }
func (f *fullSystem) Drain(context.Context, string) error                { return nil }
func (f *fullSystem) SetProtected(context.Context, []string, bool) error { return nil }

func (f *fullSystem) Busy(context.Context, string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy, nil
}

func (f *fullSystem) Heartbeat(ctx context.Context, id string) error {
	f.mu.Lock()
	fail := f.failBeats
	f.mu.Unlock()
	if fail {
		return errors.New("heartbeat refused")
	}
	return f.hookedSystem.Heartbeat(ctx, id)
}

// Every call to a capacity provider is reported to the Observer by what it
// is, a failing one as failed; none is reported as an instance provider's
// terminate.
func TestCapacityCallsAreObserved(t *testing.T) {
	sys := &fullSystem{hookedSystem: &hookedSystem{Memory: newSystem(), heartbeats: map[string]int{}}, busy: true}
	obs := newRecorder()
	h := newHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\nlifecycle: {drain: {heartbeat: 10s}}")
	h.r = NewCapacity(h.spec, sys, h.st, Options{Clock: h.clock, Observe: obs})
	var _ provider.Protector = sys
	h.reconcile(3)
	sys.Converge()
	h.reconcile(3)
	if _, err := h.r.Protect("i-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Unprotect("i-3"); err != nil {
		t.Fatal(err)
	}

	// The system removes i-2 behind its hook: drained (the system's drain,
	// busy), heartbeated — failing once — then completed.
	sys.hookedSystem.mu.Lock()
	sys.pending = []string{"i-2"}
	sys.hookedSystem.mu.Unlock()
	sys.Edit(func(_ *int, insts *[]provider.Instance) { (*insts)[1].Leaving = true })
	h.reconcile(3)
	sys.mu.Lock()
	sys.failBeats = true
	sys.mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(3)
	sys.mu.Lock()
	sys.failBeats, sys.busy = false, false
	sys.mu.Unlock()
	for range 2 {
		h.clock.Advance(10 * time.Second)
		h.reconcile(3)
	}
	if !slices.Contains(sys.completed, "i-2 0") {
		t.Fatalf("completed %v; want i-2's hook", sys.completed)
	}
	// ebb's own scale-in: removed.
	sys.Edit(func(_ *int, insts *[]provider.Instance) {
		*insts = slices.DeleteFunc(*insts, func(in provider.Instance) bool { return in.ID == "i-2" })
	})
	for range 3 {
		h.reconcile(1)
		h.clock.Advance(10 * time.Second)
	}

	for _, op := range []string{"observe", "hooks", "set_desired", "protect", "drain", "busy", "heartbeat", "complete", "remove"} {
		if obs.calls[op] == 0 {
			t.Errorf("no %s call observed: %v", op, obs.calls)
		}
	}
	if obs.calls["terminate"] != 0 {
		t.Errorf("a capacity provider's removal reported as terminate: %v", obs.calls)
	}
	if obs.failed["heartbeat"] != 1 || len(obs.failed) != 1 {
		t.Errorf("failed calls %v, want the one heartbeat", obs.failed)
	}
}

// listedSystem lists what it is told to, and removes nothing itself. It
// lists them in the slice it returned the last time, as a provider that
// reuses its memory may.
type listedSystem struct {
	insts []provider.Instance
	buf   []provider.Instance
}

func (l *listedSystem) Observe(context.Context) (provider.Observed, error) {
	l.buf = append(l.buf[:0], l.insts...)
	return provider.Observed{Desired: len(l.insts), Instances: l.buf, Min: -1, Max: -1}, nil
}
func (l *listedSystem) SetDesired(context.Context, int) error           { return nil }
func (l *listedSystem) Remove(context.Context, []provider.Victim) error { return nil }

// The instances an observation finds are what the last one listed, as it
// listed them: an observation of the same instances as the one before
// carries their new states, one of others replaces them, and an instance
// removed meanwhile that the system still lists (leaving) is found again.
func TestCapacityObservationIndex(t *testing.T) {
	ctx := context.Background()
	sys := &listedSystem{insts: []provider.Instance{{ID: "a"}, {ID: "b"}}}
	a := &capacityProvider{cap: sys, expect: -1, saved: -1}
	check := func(when string, want map[string]provider.Instance) {
		t.Helper()
		if _, err := a.observe(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b", "c"} {
			got, ok := a.find(id)
			w, wok := want[id]
			if ok != wok || got != w {
				t.Errorf("%s: find(%s) = %+v, %v; want %+v, %v", when, id, got, ok, w, wok)
			}
		}
	}
	check("first", map[string]provider.Instance{"a": {ID: "a"}, "b": {ID: "b"}})
	sys.insts[1].Ready = true
	check("same instances, b ready", map[string]provider.Instance{"a": {ID: "a"}, "b": {ID: "b", Ready: true}})
	sys.insts = []provider.Instance{{ID: "b", Ready: true}, {ID: "c"}}
	check("others", map[string]provider.Instance{"b": {ID: "b", Ready: true}, "c": {ID: "c"}})
	if err := a.Terminate(ctx, model.Instance{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.find("c"); ok {
		t.Fatal("c found right after its removal")
	}
	sys.insts[1].Leaving = true
	check("c removed, still listed", map[string]provider.Instance{"b": {ID: "b", Ready: true}, "c": {ID: "c", Leaving: true}})
}
