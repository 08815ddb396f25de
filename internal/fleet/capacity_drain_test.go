package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
)

// refusals is a failure switch shared by a system and a test's HTTP
// server: the next n requests it is asked about are refused, as a
// throttled API refuses them; the others are delivered and counted.
type refusals struct {
	mu        sync.Mutex
	n         int
	delivered int
}

func (r *refusals) refuse(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n = n
}

// take reports whether this request is refused, counting it delivered
// when it is not.
func (r *refusals) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 {
		r.n--
		return true
	}
	r.delivered++
	return false
}

func (r *refusals) deliveries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered
}

var errThrottled = errors.New("throttled")

// refusingDrainer drains instances itself (ECS container instances), and
// refuses drain requests while its refusals say so. busy says whether the
// system still moves an instance's work off; unlisted, it is idle.
type refusingDrainer struct {
	*capacitytest.Memory
	drains *refusals
	mu     sync.Mutex
	busy   map[string]bool
}

func (d *refusingDrainer) Drains() bool { return true }

func (d *refusingDrainer) Drain(_ context.Context, id string) error {
	if d.drains.take() {
		return fmt.Errorf("drain %s: %w", id, errThrottled)
	}
	return nil
}

func (d *refusingDrainer) Busy(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.busy[id], nil
}

func (d *refusingDrainer) setBusy(id string, b bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.busy[id] = b
}

// refusingRemover refuses removals while its refusals say so; the calls
// it refuses are recorded as "remove ID refused".
type refusingRemover struct {
	*capacitytest.Memory
	removes *refusals
	mu      sync.Mutex
	refused []string
}

func (r *refusingRemover) Remove(ctx context.Context, victims []provider.Victim) error {
	if r.removes.take() {
		r.mu.Lock()
		for _, v := range victims {
			r.refused = append(r.refused, "remove "+v.ID+" refused")
		}
		r.mu.Unlock()
		return errThrottled
	}
	return r.Memory.Remove(ctx, victims)
}

// busyServer answers a busy probe at /busy and a drain request at /drain:
// busy as set, drains refused while refuse says so.
type busyServer struct {
	*httptest.Server
	refuse *refusals
	mu     sync.Mutex
	busy   bool
}

func newBusyServer(t *testing.T) *busyServer {
	t.Helper()
	s := &busyServer{refuse: &refusals{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/drain":
			if s.refuse.take() {
				http.Error(w, "throttled", http.StatusServiceUnavailable)
			}
		case "/busy":
			s.mu.Lock()
			defer s.mu.Unlock()
			fmt.Fprintf(w, `{"busy": %v}`, s.busy)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *busyServer) setBusy(b bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = b
}

// record returns the stored record of the instance id.
func record(t *testing.T, h *harness, id string) model.Instance {
	t.Helper()
	for _, in := range h.instances() {
		if in.ID == id {
			return in
		}
	}
	t.Fatalf("no record of %s", id)
	return model.Instance{}
}

// removals returns the removals among a system's calls.
func removals(calls []string) []string {
	return slices.DeleteFunc(calls, func(c string) bool { return !strings.HasPrefix(c, "remove ") })
}

// A drain the fleet could not deliver — the system's own drain or ebb's
// drain request, refused — is not done when the instance looks idle: it
// still takes work. The fleet retries the drain and removes the instance
// only once a drain went through and the instance is idle after it.
func TestCapacityUndeliveredDrainIsNotDone(t *testing.T) {
	for _, tc := range []struct {
		name string
		// open returns the system, its in-memory core, the group and
		// the switch that refuses its drains; every instance is idle.
		open func(t *testing.T) (provider.Capacity, *capacitytest.Memory, string, *refusals)
	}{
		{
			name: "the system's drain refused, the system says idle",
			open: func(*testing.T) (provider.Capacity, *capacitytest.Memory, string, *refusals) {
				sys := &refusingDrainer{Memory: newSystem(), drains: &refusals{}, busy: map[string]bool{}}
				return sys, sys.Memory, "lifecycle: {drain: {heartbeat: 10s}}", sys.drains
			},
		},
		{
			name: "ebb's drain request refused, the busy probe says idle",
			open: func(t *testing.T) (provider.Capacity, *capacitytest.Memory, string, *refusals) {
				srv := newBusyServer(t)
				sys := newSystem()
				return sys, sys, fmt.Sprintf(`lifecycle:
  drain: {http: {url: "%[1]s/drain"}, busy: {http: "%[1]s/busy", path: busy}, heartbeat: 10s}`, srv.URL), srv.refuse
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, mem, lifecycle, drains := tc.open(t)
			h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\n"+lifecycle, sys)
			h.reconcile(2)
			mem.Converge()
			h.reconcile(2)
			mem.Calls()

			drains.refuse(2) // the first request and its first retry
			h.reconcile(1)   // i-1, the oldest, drains
			if got := record(t, h, "i-1"); got.State != model.Draining || got.Condition == "" {
				t.Fatalf("i-1 after its drain was refused: %s, condition %q; want draining, the failure shown", got.State, got.Condition)
			}
			h.clock.Advance(10 * time.Second) // a check: the retry is refused too
			h.reconcile(1)
			if diff := cmp.Diff([]string(nil), removals(mem.Calls())); diff != "" {
				t.Errorf("removals while no drain had gone through (-want +got):\n%s", diff)
			}
			if got := record(t, h, "i-1"); got.State != model.Draining {
				t.Fatalf("i-1 idle for a moment, its drain undelivered: %s (%s); want still draining", got.State, got.Reason)
			}

			h.clock.Advance(10 * time.Second) // the next check: the retry goes through
			h.reconcile(1)
			if n := drains.deliveries(); n != 1 {
				t.Errorf("%d drains delivered; want 1", n)
			}
			if diff := cmp.Diff([]string{"remove i-1"}, removals(mem.Calls())); diff != "" {
				t.Errorf("removals once the drain went through and i-1 is idle (-want +got):\n%s", diff)
			}
			got := record(t, h, "i-1")
			if diff := cmp.Diff([]string{string(model.Terminated), "drained", ""}, []string{string(got.State), got.Reason, got.Condition}); diff != "" {
				t.Errorf("i-1's state, reason and condition (-want +got):\n%s", diff)
			}
		})
	}
}

// A system drain refused once and delivered on its retry leaves nothing
// behind: the instance no longer shows the refusal, it is removed at the first check that finds it idle
// (not held as undelivered until the drain timeout), and once its drain
// is over the group settles — also when the system removes the instance
// itself, which ends the drain without a check.
func TestCapacitySystemDrainDeliveredOnRetryIsForgotten(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends i-1's work after its drain went through.
		end         func(sys *refusingDrainer)
		wantRemoved []string
		wantState   model.InstanceState
	}{
		{
			name:        "the system says it is idle",
			end:         func(sys *refusingDrainer) { sys.setBusy("i-1", false) },
			wantRemoved: []string{"remove i-1"},
			wantState:   model.Terminated,
		},
		{
			name: "the system removes it itself",
			end: func(sys *refusingDrainer) {
				sys.Edit(func(_ *int, insts *[]provider.Instance) {
					*insts = slices.DeleteFunc(*insts, func(in provider.Instance) bool { return in.ID == "i-1" })
				})
			},
			wantState: model.Terminated,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := &refusingDrainer{Memory: newSystem(), drains: &refusals{}, busy: map[string]bool{}}
			h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\nlifecycle: {drain: {heartbeat: 10s, timeout: 1h}}", sys)
			h.reconcile(2)
			sys.Converge()
			h.reconcile(2)
			sys.Calls()

			sys.setBusy("i-1", true)
			sys.drains.refuse(1)
			h.reconcile(1)
			h.clock.Advance(10 * time.Second) // the retry goes through; i-1 is still busy
			s := h.reconcile(1)
			if n := sys.drains.deliveries(); n != 1 {
				t.Fatalf("%d drains delivered; want the retry's", n)
			}
			if got := record(t, h, "i-1").Condition; got != "" {
				t.Errorf("i-1's condition once its drain went through: %q; want none", got)
			}
			if diff := cmp.Diff([]string(nil), s.Conditions); diff != "" {
				t.Errorf("conditions once the drain went through (-want +got):\n%s", diff)
			}

			tc.end(sys)
			h.clock.Advance(10 * time.Second) // the next check
			h.reconcile(1)
			if diff := cmp.Diff(tc.wantRemoved, removals(sys.Calls())); diff != "" {
				t.Errorf("removals (-want +got):\n%s", diff)
			}
			if got := record(t, h, "i-1").State; got != tc.wantState {
				t.Errorf("i-1 %s; want %s", got, tc.wantState)
			}
			if s := h.reconcile(1); !s.Settled {
				t.Errorf("status %+v; want the group settled, its drain over", s)
			}
		})
	}
}

// launchUnready brings the group to two instances, i-1 in service and i-2
// launching: the system runs i-2 but does not count it ready yet.
func launchUnready(t *testing.T, h *harness, sys *refusingRemover) {
	t.Helper()
	h.reconcile(2)
	sys.Converge()
	sys.Edit(func(_ *int, insts *[]provider.Instance) { (*insts)[1].Ready = false })
	h.reconcile(2)
	sys.Calls()
	if st := states(t, h); st["i-1"] != model.InService || st["i-2"] != model.Launching {
		t.Fatalf("states %v; want i-1 in service, i-2 launching", st)
	}
}

// setReady has the system put i-2 in service.
func setReady(sys *refusingRemover) {
	sys.Edit(func(_ *int, insts *[]provider.Instance) { (*insts)[1].Ready = true })
}

// A scale-in stops a launching instance without a drain: it holds no work
// yet. When its removal is refused and, while the fleet waits to retry,
// the system puts it in service, it may hold work by then: the retry
// drains it instead of removing it, and it is removed once idle.
func TestCapacityScaleInBeforeReadyPutInServiceMeanwhileIsDrained(t *testing.T) {
	srv := newBusyServer(t)
	sys := &refusingRemover{Memory: newSystem(), removes: &refusals{}}
	h := newCapacityHarness(t, fmt.Sprintf(`name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  drain: {busy: {http: "%s/busy", path: busy}, heartbeat: 10s}`, srv.URL), sys)
	launchUnready(t, h, sys)

	sys.removes.refuse(1)
	h.reconcile(1) // i-2, not ready, is stopped first; its removal is refused
	if got := record(t, h, "i-2"); got.State != model.Terminating || got.Reason != reasonScaleInBeforeReady {
		t.Fatalf("i-2 after the scale-in: %s (%s); want terminating, %s", got.State, got.Reason, reasonScaleInBeforeReady)
	}
	if diff := cmp.Diff([]string{"remove i-2 refused"}, sys.refused); diff != "" {
		t.Fatalf("refused removals (-want +got):\n%s", diff)
	}

	setReady(sys)
	srv.setBusy(true) // it took work as soon as it was in service
	h.clock.Advance(10 * time.Second)
	h.reconcile(1) // the retry is due
	if diff := cmp.Diff([]string(nil), removals(sys.Calls())); diff != "" {
		t.Errorf("removals of an instance put in service with work (-want +got):\n%s", diff)
	}
	got := record(t, h, "i-2")
	if diff := cmp.Diff([]string{string(model.Draining), "scale-in: " + reasonReadyLate}, []string{string(got.State), got.Reason}); diff != "" {
		t.Fatalf("i-2's state and reason once the system put it in service (-want +got):\n%s", diff)
	}
	if got := record(t, h, "i-1").State; got != model.InService {
		t.Errorf("i-1 %s; want in service, the scale-in's one victim being i-2", got)
	}

	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if diff := cmp.Diff([]string(nil), removals(sys.Calls())); diff != "" {
		t.Errorf("removals while i-2 is busy (-want +got):\n%s", diff)
	}
	srv.setBusy(false)
	h.clock.Advance(10 * time.Second)
	h.reconcile(1)
	if diff := cmp.Diff([]string{"remove i-2"}, removals(sys.Calls())); diff != "" {
		t.Errorf("removals once i-2 is idle (-want +got):\n%s", diff)
	}
	if s := h.reconcile(1); !s.Settled || s.InService != 1 || sys.Desired() != 1 {
		t.Errorf("status %+v, system desired %d; want 1 in service, settled", s, sys.Desired())
	}
}

// A launch not ready in time is stopped and given up (it ends failed).
// When its removal is refused and, while the fleet waits to retry, the
// system puts it in service, it is capacity after all: the fleet keeps it
// — no drain, no removal — and no longer counts it as a failed launch, so
// the group settles with it.
func TestCapacityLateLaunchPutInServiceMeanwhileIsKept(t *testing.T) {
	sys := &refusingRemover{Memory: newSystem(), removes: &refusals{}}
	h := newCapacityHarness(t, `name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  launch: {timeout: 30s}`, sys)
	launchUnready(t, h, sys)

	sys.removes.refuse(1)
	h.clock.Advance(31 * time.Second) // past the launch timeout
	h.reconcile(2)
	if got := record(t, h, "i-2"); got.State != model.Terminating || !strings.HasPrefix(got.Reason, reasonNotReady) {
		t.Fatalf("i-2 past its launch timeout: %s (%s); want terminating, not ready", got.State, got.Reason)
	}
	if diff := cmp.Diff([]string{"remove i-2 refused"}, sys.refused); diff != "" {
		t.Fatalf("refused removals (-want +got):\n%s", diff)
	}

	setReady(sys)
	h.clock.Advance(10 * time.Second)
	h.reconcile(2) // the retry is due
	if diff := cmp.Diff([]string(nil), removals(sys.Calls())); diff != "" {
		t.Errorf("removals of a late launch the system put in service (-want +got):\n%s", diff)
	}
	got := record(t, h, "i-2")
	if diff := cmp.Diff([]string{string(model.InService), reasonReadyLate, ""}, []string{string(got.State), got.Reason, got.Condition}); diff != "" {
		t.Fatalf("i-2's state, reason and condition once the system put it in service (-want +got):\n%s", diff)
	}
	h.clock.Advance(10 * time.Second)
	if s := h.reconcile(2); !s.Settled || s.InService != 2 || sys.Desired() != 2 {
		t.Errorf("status %+v, system desired %d; want 2 in service, settled", s, sys.Desired())
	}
}

// An instance the system removes itself while the fleet waits to retry a
// refused drain or removal of it needs no retry any more: the group
// settles without it.
func TestCapacityRetriesOfAnInstanceGoneFromTheSystemAreForgotten(t *testing.T) {
	for _, tc := range []struct {
		name string
		// open returns the system and its in-memory core, which refuses
		// every drain or every removal from the scale-in on.
		open func() (provider.Capacity, *capacitytest.Memory, func())
		// checks is how many drain checks the fleet makes before the
		// system removes i-1 (the first check stops an idle instance).
		checks int
	}{
		{
			name: "its drain refused",
			open: func() (provider.Capacity, *capacitytest.Memory, func()) {
				sys := &refusingDrainer{Memory: newSystem(), drains: &refusals{}, busy: map[string]bool{}}
				return sys, sys.Memory, func() { sys.drains.refuse(1000) }
			},
		},
		{
			name: "its removal refused",
			open: func() (provider.Capacity, *capacitytest.Memory, func()) {
				sys := &refusingRemover{Memory: newSystem(), removes: &refusals{}}
				return sys, sys.Memory, func() { sys.removes.refuse(1000) }
			},
			checks: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, mem, refuse := tc.open()
			h := newCapacityHarness(t, "name: web\ncapacity: {max: 10}\npolicies: [{fixed: {desired: 1}}]\nlifecycle: {drain: {heartbeat: 10s}}", sys)
			h.reconcile(2)
			mem.Converge()
			h.reconcile(2)
			refuse()
			h.reconcile(1) // i-1, the oldest, drains
			for range tc.checks {
				h.clock.Advance(10 * time.Second)
				h.reconcile(1)
			}
			if got := record(t, h, "i-1"); got.Condition == "" {
				t.Fatalf("i-1 %s with no condition; want a refusal shown", got.State)
			}

			mem.Edit(func(_ *int, insts *[]provider.Instance) {
				*insts = slices.DeleteFunc(*insts, func(in provider.Instance) bool { return in.ID == "i-1" })
			})
			for range 3 { // bounded: past every retry's backoff
				h.clock.Advance(time.Minute)
				h.reconcile(1)
			}
			if got := record(t, h, "i-1").State; got != model.Terminated {
				t.Errorf("i-1 %s; want terminated, gone from the system", got)
			}
			if s := h.reconcile(1); !s.Settled {
				t.Errorf("status %+v; want the group settled, nothing left to retry", s)
			}
		})
	}
}
