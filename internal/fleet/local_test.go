package fleet

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
	"github.com/ebb-autoscaler/ebb/internal/provider/providertest"
)

// newLocalHarness is a harness whose instances are real processes (the
// providertest script) run by a local provider whose SIGTERM→SIGKILL wait is
// grace.
func newLocalHarness(t *testing.T, group string, grace time.Duration) (*harness, *local.Provider) {
	t.Helper()
	h := newHarness(t, group)
	lp := newLocalProvider(t, grace)
	h.real = lp
	h.opt.CallTimeout = 10 * time.Second
	h.restart()
	t.Cleanup(func() { killAll(t, lp, h.spec.Group) })
	return h, lp
}

func newLocalProvider(t *testing.T, grace time.Duration) *local.Provider {
	t.Helper()
	lp, err := local.New(local.Config{
		Command: providertest.Command(),
		Env:     providertest.Env(),
		LogDir:  t.TempDir(),
		Grace:   grace,
	})
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// killAll stops whatever still runs for group when a test ends.
func killAll(t *testing.T, lp *local.Provider, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	insts, err := lp.List(ctx, group)
	if err != nil {
		t.Errorf("list leftovers: %v", err)
	}
	quick := newLocalProvider(t, 50*time.Millisecond)
	for _, in := range insts {
		_ = quick.Terminate(ctx, in)
	}
}

// waitFor polls cond on the wall clock for at most 10 s: a real process
// acting on a signal takes the time it takes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		if err := (clock.Real{}).Sleep(ctx, 20*time.Millisecond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

func logHas(lp *local.Provider, inst model.Instance, line string) bool {
	data, _ := os.ReadFile(lp.LogPath(inst))
	return strings.Contains(string(data), line+"\n")
}

func (h *harness) alive(inst model.Instance) bool {
	h.t.Helper()
	ok, err := h.real.Alive(context.Background(), inst)
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// one returns the group's only instance.
func (h *harness) one() model.Instance {
	h.t.Helper()
	insts := h.instances()
	if len(insts) != 1 {
		h.t.Fatalf("%d instances, want 1: %+v", len(insts), insts)
	}
	return insts[0]
}

// A group with no drain action and no busy probe drains by a graceful
// stop: SIGTERM, and SIGKILL once lifecycle.drain.grace has passed, checked
// at each reconcile without blocking it (the provider's own grace, an hour
// here, is never waited for).
func TestDrainWithoutActionIsAGracefulStop(t *testing.T) {
	tests := []struct {
		name, group string
		wantReason  string
	}{
		{name: "exits on SIGTERM", group: "w", wantReason: "exited after draining"},
		{name: "ignores SIGTERM", group: providertest.StubbornGroup, wantReason: "still running 30s after SIGTERM; killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, lp := newLocalHarness(t, `
name: `+tt.group+`
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle: {drain: {grace: 30s, heartbeat: 1m}}
`, time.Hour)
			h.reconcile(1)
			h.reconcile(1)
			inst := h.one()
			if inst.State != model.InService {
				t.Fatalf("%+v, want in service", inst)
			}
			waitFor(t, "the instance's traps", func() bool { return logHas(lp, inst, "leader: ready") })
			h.reconcile(0) // SIGTERM
			if tt.group == "w" {
				waitFor(t, "the instance to exit on SIGTERM", func() bool { return !h.alive(inst) })
				h.clock.Advance(time.Second)
				h.reconcile(0)
			} else {
				for range 2 { // within grace: still draining, checked every 30s (< heartbeat)
					h.clock.Advance(15 * time.Second)
					h.reconcile(0)
					if got := h.one(); got.State != model.Draining || !h.alive(inst) {
						t.Fatalf("after %s: %+v; want it draining and running", h.clock.Now().Sub(t0), got)
					}
				}
				h.clock.Advance(15 * time.Second)
				h.reconcile(0)
			}
			got := h.one()
			if got.State != model.Terminated || got.Reason != tt.wantReason {
				t.Fatalf("%+v; want terminated: %s", got, tt.wantReason)
			}
			if h.alive(inst) {
				t.Fatal("the process still runs")
			}
		})
	}
}

// The state file is lost while instances run: a fresh store adopts them
// from the provider, and reconciling at the same desired capacity launches
// nothing beside them.
func TestAdoptAfterStateFileLost(t *testing.T) {
	const group = `
name: w
capacity: {max: 10}
policies: [{fixed: {desired: 2}}]
`
	a, lp := newLocalHarness(t, group, time.Second)
	a.reconcile(2)
	a.reconcile(2)
	if n := a.count(model.InService); n != 2 {
		t.Fatalf("store A: %d in service, want 2", n)
	}
	b, _ := newLocalHarness(t, group, time.Second) // a fresh store and provider: a new ebb
	adopted, err := b.r.Adopt(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 2 {
		t.Fatalf("adopted %+v, want the 2 running instances", adopted)
	}
	for _, in := range adopted {
		if in.State != model.Launching || in.Reason != "adopted: running but not in the state file" || in.Process == nil {
			t.Errorf("adopted %+v", in)
		}
	}
	b.reconcile(2)
	s := b.reconcile(2)
	if s.InService != 2 || s.Launching != 0 {
		t.Fatalf("%+v, want the 2 adopted in service and no launch", s)
	}
	running, err := lp.List(context.Background(), "w")
	if err != nil || len(running) != 2 {
		t.Fatalf("%d processes run (%v), want 2", len(running), err)
	}
	if again, err := b.r.Adopt(context.Background()); err != nil || len(again) != 0 {
		t.Fatalf("second Adopt = %+v, %v; want nothing new", again, err)
	}
}

var (
	_ Lister = (*local.Provider)(nil)
	_ Finder = (*local.Provider)(nil)
)

// An instance recorded as ended that still runs is adopted (nothing else
// would ever stop it); live records are left alone.
func TestAdoptEndedButRunning(t *testing.T) {
	h := newHarness(t, base)
	ids := h.inService(2)
	in := find(h.instances(), ids[0])
	in.State, in.Reason, in.Zone = model.Terminated, "drained", "z"
	if err := h.r.put(in); err != nil {
		t.Fatal(err)
	}
	adopted, err := h.r.Adopt(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 1 || adopted[0].ID != ids[0] || adopted[0].Zone != "z" || adopted[0].State != model.Launching {
		t.Fatalf("adopted %+v, want just %s, launching in zone z", adopted, ids[0])
	}
	if got := find(h.instances(), ids[1]); got.State != model.InService {
		t.Fatalf("a live record changed: %+v", got)
	}
}
