package fleet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// newSystem is an in-memory system owning its instances, launching them at
// t0.
func newSystem() *capacitytest.Memory {
	return &capacitytest.Memory{Now: func() time.Time { return t0 }}
}

type pickingSystem struct{ *capacitytest.Memory }

func (p pickingSystem) Pick(obs provider.Observed, n int) []string {
	var out []string
	for i := len(obs.Instances) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, obs.Instances[i].ID)
	}
	return out
}

func newCapacityHarness(t *testing.T, group string, c provider.Capacity) *harness {
	t.Helper()
	h := newHarness(t, group)
	h.r = NewCapacity(h.spec, c, h.st, Options{Clock: h.clock})
	return h
}

func states(t *testing.T, h *harness) map[string]model.InstanceState {
	t.Helper()
	out := map[string]model.InstanceState{}
	for _, in := range h.instances() {
		out[in.ID] = in.State
	}
	return out
}

// Scale-out sets the system's count; the instances it starts are recorded,
// in service once it says they are ready. Scale-in drains ebb's victims
// (the oldest) and removes them only once their busy probe says idle, each
// removal lowering the count with it.
func TestCapacityScalesThroughTheSystem(t *testing.T) {
	var mu sync.Mutex
	busy := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, `{"busy": %v}`, busy[r.URL.Query().Get("id")])
	}))
	defer srv.Close()
	sys := newSystem()
	h := newCapacityHarness(t, fmt.Sprintf(`name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  drain: {busy: {http: "%s/?id={{.ID}}", path: busy}, heartbeat: 10s}`, srv.URL), sys)

	h.reconcile(3)
	if got := sys.Calls(); !slices.Equal(got, []string{"set 3"}) {
		t.Fatalf("calls for desired 3: %v", got)
	}
	sys.Converge()
	if s := h.reconcile(3); s.InService != 3 || !s.Settled {
		t.Fatalf("after the system launched 3: %+v", s)
	}
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("a settled group made calls: %v", got)
	}
	w := h.st.Writes()
	if s := h.reconcile(3); !s.Settled || h.st.Writes() != w {
		t.Fatalf("a settled group's reconcile wrote %d transactions", h.st.Writes()-w)
	}

	// Scale in to 1: i-1 and i-2 (the oldest) drain; i-1 is busy.
	mu.Lock()
	busy["i-1"] = true
	mu.Unlock()
	s := h.reconcile(1)
	if s.Draining != 2 {
		t.Fatalf("scale-in to 1: %+v; want 2 draining", s)
	}
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if got := sys.Calls(); !slices.Equal(got, []string{"remove i-2"}) {
		t.Fatalf("after a heartbeat with i-1 busy: calls %v; want i-2 removed alone", got)
	}
	if st := states(t, h); st["i-1"] != model.Draining || st["i-2"] != model.Terminated || st["i-3"] != model.InService {
		t.Fatalf("states %v", st)
	}
	mu.Lock()
	busy["i-1"] = false
	mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if got := sys.Calls(); !slices.Equal(got, []string{"remove i-1"}) {
		t.Fatalf("once i-1 is idle: calls %v", got)
	}
	if s := h.reconcile(1); s.InService != 1 || sys.Desired() != 1 || !s.Settled {
		t.Fatalf("at 1: %+v, system desired %d", s, sys.Desired())
	}
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("the removals lowered the count: nothing more to set, yet %v", got)
	}
}

// A count someone else set is reported, not fought: no call goes to the
// system in that reconcile.
func TestCapacityTakesAnOutsideChange(t *testing.T) {
	sys := newSystem()
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]", sys)
	h.reconcile(2)
	sys.Converge()
	h.reconcile(2)
	sys.Calls()

	sys.Edit(func(d *int, _ *[]provider.Instance) { *d = 5 }) // an operator scaled the workload by hand
	sys.Converge()
	s := h.reconcile(2)
	if s.Outside == nil || *s.Outside != 5 {
		t.Fatalf("status %+v; want the outside count 5 reported", s)
	}
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("ebb fought the change: %v", got)
	}
	// Taken as input: the caller's desired is 5 from now on.
	if s := h.reconcile(5); s.Outside != nil || s.InService != 5 {
		t.Fatalf("after taking 5: %+v", s)
	}
}

// An instance the system removes or loses on its own is recorded as such;
// ebb asks nothing of the system for it (the system replaces it itself).
func TestCapacityRecordsWhatTheSystemDid(t *testing.T) {
	sys := newSystem()
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]", sys)
	h.reconcile(2)
	sys.Converge()
	h.reconcile(2)
	sys.Calls()

	sys.Edit(func(_ *int, insts *[]provider.Instance) {
		(*insts)[0].Leaving = true // the system is removing i-1 (a node drained, say)
		*insts = (*insts)[1:]      // and has already lost it
	})
	sys.Converge() // and replaces it
	h.reconcile(2)
	st := states(t, h)
	if st["i-1"] != model.Terminated || st["i-3"] == "" {
		t.Fatalf("states %v; want i-1 terminated, i-3 recorded", st)
	}
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("calls for a replacement the system made itself: %v", got)
	}
	for _, in := range h.instances() {
		if in.ID == "i-1" && !strings.Contains(in.Reason, "gone from the system") {
			t.Errorf("i-1's reason %q", in.Reason)
		}
	}
}

// A system that picks its own victims (a StatefulSet) gets them drained.
func TestCapacityPickerChoosesTheVictims(t *testing.T) {
	sys := newSystem()
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]", pickingSystem{sys})
	h.reconcile(3)
	sys.Converge()
	h.reconcile(3)
	sys.Calls()
	h.reconcile(2)
	h.reconcile(2)
	if got := sys.Calls(); !slices.Equal(got, []string{"remove i-3"}) {
		t.Fatalf("calls %v; want the newest, which the system picks", got)
	}
	// No drain configured: nothing to send (a capacity provider cannot
	// signal), and nothing shows as failing.
	for _, in := range h.instances() {
		if in.Condition != "" {
			t.Errorf("instance %s: condition %q", in.ID, in.Condition)
		}
	}
}

// hookedSystem asks before it removes instances on its own (an Auto
// Scaling group's terminate lifecycle hook).
type hookedSystem struct {
	*capacitytest.Memory
	mu         sync.Mutex
	pending    []string
	heartbeats map[string]int
	completed  []string
}

func (h *hookedSystem) Pending(context.Context) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.pending), nil
}

func (h *hookedSystem) Heartbeat(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heartbeats[id]++
	return nil
}

func (h *hookedSystem) Complete(_ context.Context, id string, res provider.HookResult) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.completed = append(h.completed, fmt.Sprintf("%s %d", id, res))
	h.pending = slices.DeleteFunc(h.pending, func(p string) bool { return p == id })
	return nil
}

// An instance the system removes on its own behind a lifecycle hook is
// drained first, the hook heartbeated while its work goes on, then
// completed with Continue — never removed by ebb (the count stays the
// system's). A hook on an instance ebb removed itself is completed at once.
func TestCapacityDrainsBehindALifecycleHook(t *testing.T) {
	var mu sync.Mutex
	busy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, `{"busy": %v}`, busy)
	}))
	defer srv.Close()
	sys := &hookedSystem{Memory: newSystem(), heartbeats: map[string]int{}}
	h := newCapacityHarness(t, fmt.Sprintf(`name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  drain: {busy: {http: "%s/", path: busy}, heartbeat: 10s}`, srv.URL), sys)
	h.reconcile(3)
	sys.Converge()
	h.reconcile(3)
	sys.Calls()

	sys.mu.Lock()
	sys.pending = []string{"i-2"} // the system rebalances zones, say
	sys.mu.Unlock()
	sys.Edit(func(_ *int, insts *[]provider.Instance) { (*insts)[1].Leaving = true })
	h.reconcile(3)
	if st := states(t, h); st["i-2"] != model.Draining {
		t.Fatalf("states %v; want i-2 draining behind its hook", st)
	}
	for range 2 {
		h.clock.Advance(10 * time.Second)
		h.reconcile(3)
	}
	if sys.heartbeats["i-2"] < 2 || len(sys.completed) != 0 {
		t.Fatalf("heartbeats %v, completed %v; want the hook kept while i-2 is busy", sys.heartbeats, sys.completed)
	}
	mu.Lock()
	busy = false
	mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(3)
	if !slices.Equal(sys.completed, []string{"i-2 0"}) {
		t.Fatalf("completed %v; want i-2 let go with Continue once idle", sys.completed)
	}
	for _, c := range sys.Calls() {
		if strings.HasPrefix(c, "remove") {
			t.Fatalf("ebb removed an instance the system was removing: %v", c)
		}
	}

	// ebb's own scale-in fires the hook too: completed at once.
	sys.Edit(func(_ *int, insts *[]provider.Instance) {
		*insts = slices.DeleteFunc(*insts, func(in provider.Instance) bool { return in.ID == "i-2" })
	})
	h.reconcile(1)
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	var removed string
	for _, c := range sys.Calls() {
		if strings.HasPrefix(c, "remove ") {
			removed = strings.TrimPrefix(c, "remove ")
		}
	}
	if removed == "" {
		t.Fatal("no scale-in to 1")
	}
	sys.mu.Lock()
	sys.pending = append(sys.pending, removed)
	sys.mu.Unlock()
	h.reconcile(1)
	if !slices.Contains(sys.completed, removed+" 0") {
		t.Fatalf("completed %v; want the hook on %s, which ebb removed, let go", sys.completed, removed)
	}
}

// drainingSystem drains instances itself (ECS container instances).
type drainingSystem struct {
	*capacitytest.Memory
	mu      sync.Mutex
	drained []string
	busy    map[string]bool
}

func (d *drainingSystem) Drains() bool { return true }

func (d *drainingSystem) Drain(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drained = append(d.drained, id)
	return nil
}

func (d *drainingSystem) Busy(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.busy[id], nil
}

// A system that drains instances itself is asked to, and the victim is
// removed only once the system says its work has moved off.
func TestCapacityUsesTheSystemsDrain(t *testing.T) {
	sys := &drainingSystem{Memory: newSystem(), busy: map[string]bool{}}
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\nlifecycle: {drain: {heartbeat: 10s}}", sys)
	h.reconcile(2)
	sys.Converge()
	h.reconcile(2)
	sys.Calls()
	sys.mu.Lock()
	sys.busy["i-1"] = true
	sys.mu.Unlock()
	h.reconcile(1)
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if !slices.Equal(sys.drained, []string{"i-1"}) || len(sys.Calls()) != 0 {
		t.Fatalf("drained %v; want i-1 drained by the system and not removed while busy", sys.drained)
	}
	sys.mu.Lock()
	sys.busy["i-1"] = false
	sys.mu.Unlock()
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if got := sys.Calls(); !slices.Equal(got, []string{"remove i-1"}) {
		t.Fatalf("calls %v; want i-1 removed once the system says it is idle", got)
	}
}

type deadlineSystem struct {
	*hookedSystem
	deadline time.Time
}

func (d *deadlineSystem) Deadline(string) time.Time { return d.deadline }

// A hooked drain ends before the system's own wait would: the instance is
// let go within a drain check of the hook's deadline, busy or not, even
// with a longer drain timeout.
func TestCapacityLetsGoBeforeTheHookExpires(t *testing.T) {
	hs := &hookedSystem{Memory: newSystem(), heartbeats: map[string]int{}}
	sys := &deadlineSystem{hookedSystem: hs, deadline: t0.Add(35 * time.Second)}
	h := newCapacityHarness(t, `name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  drain: {busy: {command: ["true"]}, heartbeat: 10s, timeout: 1h}`, sys)
	h.reconcile(2)
	hs.Converge()
	h.reconcile(2)
	hs.mu.Lock()
	hs.pending = []string{"i-1"}
	hs.mu.Unlock()
	hs.Edit(func(_ *int, insts *[]provider.Instance) { (*insts)[0].Leaving = true })
	h.reconcile(2)
	for range 2 { // t0+10s, t0+20s: still within the hook's time
		h.clock.Advance(10 * time.Second)
		h.reconcile(2)
	}
	if len(hs.completed) != 0 {
		t.Fatalf("completed %v before the deadline came near", hs.completed)
	}
	h.clock.Advance(10 * time.Second) // t0+30s: within a check of t0+35s
	h.reconcile(2)
	if !slices.Equal(hs.completed, []string{"i-1 0"}) {
		t.Fatalf("completed %v; want i-1 let go before its hook expires", hs.completed)
	}
}

// A busy probe that gets no answer is not an idle instance: the victim
// stays until the probe says so or the drain times out.
func TestCapacityUnansweredBusyProbeWaits(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // refused from now on
	sys := newSystem()
	h := newCapacityHarness(t, fmt.Sprintf(`name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  drain: {busy: {http: "%s/", path: busy}, heartbeat: 10s, timeout: 30s}`, srv.URL), sys)
	h.reconcile(2)
	sys.Converge()
	h.reconcile(2)
	sys.Calls()
	h.reconcile(1)
	for range 2 {
		h.clock.Advance(10 * time.Second)
		h.reconcile(1)
		if got := sys.Calls(); len(got) != 0 {
			t.Fatalf("removed while its busy probe fails: %v", got)
		}
	}
	h.clock.Advance(10 * time.Second) // the 30s drain timeout
	h.reconcile(1)
	if got := sys.Calls(); len(got) != 1 || !strings.HasPrefix(got[0], "remove") {
		t.Fatalf("calls %v; want the victim removed at the drain timeout", got)
	}
}

// A count set while ebb was down is told from ebb's own after a restart:
// the count ebb left the system at is kept with the group's state.
func TestCapacityRestartSeesAChangeMadeWhileDown(t *testing.T) {
	sys := newSystem()
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]", sys)
	h.reconcile(3)
	sys.Converge()
	h.reconcile(3)

	sys.Edit(func(d *int, _ *[]provider.Instance) { *d = 6 }) // while ebb is down
	sys.Converge()
	h.r = NewCapacity(h.spec, sys, h.st, Options{Clock: h.clock}) // ebb starts again
	s := h.reconcile(3)
	if s.Outside == nil || *s.Outside != 6 {
		t.Fatalf("status after the restart %+v; want the count set while down reported", s)
	}
	if got := sys.Calls(); !slices.Equal(got, []string{"set 3"}) {
		t.Fatalf("calls %v; want only the first start's set", got)
	}
}

// The count ebb leaves the system at is recorded with the write that
// changed it (the removal's finish), not in a transaction of its own, and
// a restart finds it: the removal is not taken for a change by someone
// else.
func TestCapacityCountIsRecordedWithTheRemoval(t *testing.T) {
	sys := newSystem()
	h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]", sys)
	h.reconcile(3)
	sys.Converge()
	h.reconcile(3)
	h.reconcile(2) // drains the oldest
	sys.Calls()
	before := h.st.Writes()
	h.reconcile(2) // finds it idle: removes it, lowering the count to 2
	if got := sys.Calls(); !slices.Equal(got, []string{"remove i-1"}) {
		t.Fatalf("calls %v; want i-1 removed", got)
	}
	if w := h.st.Writes() - before; w != 2 {
		t.Errorf("%d write transactions for a removal; want 2 (its intent, then its outcome with the count)", w)
	}
	var gs store.GroupState
	if err := h.st.View(func(tx *store.Tx) error { gs, _, _ = tx.GroupState("web"); return nil }); err != nil {
		t.Fatal(err)
	}
	if gs.System == nil || *gs.System != 2 {
		t.Fatalf("recorded count %v; want 2", gs.System)
	}
	h.r = NewCapacity(h.spec, sys, h.st, Options{Clock: h.clock}) // ebb starts again
	if s := h.reconcile(2); s.Outside != nil {
		t.Fatalf("after a restart, ebb's own removal was taken for an outside change: %+v", s)
	}
}

// timedSystem notes whether each call's context has a deadline, and
// says it answers at once when immediate.
type timedSystem struct {
	*capacitytest.Memory
	immediate bool
	deadlines []bool
}

func (d *timedSystem) Immediate() bool { return d.immediate }

func (d *timedSystem) Observe(ctx context.Context) (provider.Observed, error) {
	_, ok := ctx.Deadline()
	d.deadlines = append(d.deadlines, ok)
	return d.Memory.Observe(ctx)
}

func (d *timedSystem) SetDesired(ctx context.Context, n int) error {
	_, ok := ctx.Deadline()
	d.deadlines = append(d.deadlines, ok)
	return d.Memory.SetDesired(ctx, n)
}

// Each call to a provider is bounded by the call timeout, unless the
// provider says it answers at once (provider.Immediate): then it is given
// the caller's context, with no timer of its own.
func TestImmediateProviderCallsHaveNoTimer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		immediate bool
	}{{"bounded", false}, {"immediate", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sys := &timedSystem{Memory: newSystem(), immediate: tc.immediate}
			h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\n", sys)
			h.reconcile(2) // observe, then set 2
			want := []bool{!tc.immediate, !tc.immediate}
			if !slices.Equal(sys.deadlines, want) {
				t.Fatalf("calls had deadlines %v, want %v", sys.deadlines, want)
			}
			if got := sys.Calls(); !slices.Equal(got, []string{"set 2"}) {
				t.Fatalf("calls %v, want [set 2]", got)
			}
		})
	}
}
