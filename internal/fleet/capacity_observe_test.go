package fleet

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

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
