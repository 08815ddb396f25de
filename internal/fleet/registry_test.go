package fleet

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/registry"
)

const registryGroup = base + `
lifecycle:
  registry: {app: web, refresh: 30s}
  health: {grace: 0s, failures: 2}
  drain: {grace: 10s, heartbeat: 5s}
`

// newRegistryHarness is a harness whose reconciler reads a real registry.
func newRegistryHarness(t *testing.T, group string) (*harness, *registry.Registry) {
	t.Helper()
	reg, err := registry.New(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, group)
	h.opt.Registry = reg
	h.restart()
	return h, reg
}

// register registers an instance as its Eureka client would, with the
// ebb instance ID as its instanceId.
func register(t *testing.T, reg *registry.Registry, now time.Time, id string, status registry.Status) {
	t.Helper()
	_, err := reg.Register(now, "web", registry.Instance{InstanceID: id, HostName: "127.0.0.1", App: "WEB", IPAddr: "127.0.0.1",
		Status: status, DataCenterInfo: registry.DataCenterInfo{Name: registry.DataCenterMyOwn}})
	if err != nil {
		t.Fatal(err)
	}
}

func leaseOf(t *testing.T, reg *registry.Registry, now time.Time, id string) (registry.LeaseState, error) {
	t.Helper()
	return reg.Lease(now, "web", id)
}

// TestRegistryReadiness: a launched instance is capacity only once its
// registration is UP, not while it runs unregistered or STARTING.
func TestRegistryReadiness(t *testing.T) {
	h, reg := newRegistryHarness(t, registryGroup)
	h.reconcile(1)
	id := h.prov.launched[0]
	h.reconcile(1)
	if n := h.count(model.Launching); n != 1 {
		t.Fatalf("unregistered instance: %d launching, want 1", n)
	}
	register(t, reg, h.clock.Now(), id, registry.StatusStarting)
	h.reconcile(1)
	if n := h.count(model.Launching); n != 1 {
		t.Fatalf("STARTING instance: %d launching, want 1", n)
	}
	register(t, reg, h.clock.Now(), id, registry.StatusUp)
	if st := h.reconcile(1); st.InService != 1 {
		t.Fatalf("UP instance: %+v, want in service", st)
	}
}

// TestRegistryHealth: an instance whose lease lapsed is replaced, unless
// the registry is preserving leases (too many lapsed at once); one that
// reports DOWN fails the health check each time; one gone from the
// registry is replaced at once.
func TestRegistryHealth(t *testing.T) {
	h, reg := newRegistryHarness(t, registryGroup)
	h.reconcile(3)
	for _, id := range h.prov.launched {
		register(t, reg, h.clock.Now(), id, registry.StatusUp)
	}
	if st := h.reconcile(3); st.InService != 3 {
		t.Fatalf("%+v", st)
	}
	silent, down, gone := h.prov.launched[0], h.prov.launched[1], h.prov.launched[2]

	// All three stop renewing: self-preservation holds them all.
	h.clock.Advance(100 * time.Second)
	if ls, _ := leaseOf(t, reg, h.clock.Now(), silent); !ls.Expired || !ls.SelfPreservation {
		t.Fatalf("lease %+v, want expired under self-preservation", ls)
	}
	h.reconcile(3)
	if n := h.count(model.InService); n != 3 {
		t.Fatalf("under self-preservation %d in service, want all 3 kept", n)
	}

	// One reports DOWN: two failed checks in a row replace it.
	register(t, reg, h.clock.Now(), down, registry.StatusDown)
	h.reconcile(3)
	if in := find(h.instances(), down); in.State != model.InService {
		t.Fatalf("one DOWN report replaced it: %+v", in)
	}
	h.reconcile(3)
	if in := find(h.instances(), down); !in.State.Ended() || !strings.Contains(in.Reason, "failed 2 health checks") {
		t.Fatalf("DOWN twice: %+v, want replaced", in)
	}
	if _, err := leaseOf(t, reg, h.clock.Now(), down); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the replaced instance is still registered: %v", err)
	}

	// One cancels its registration: replaced at once.
	if err := reg.Cancel(h.clock.Now(), "web", gone); err != nil {
		t.Fatal(err)
	}
	h.reconcile(3)
	if in := find(h.instances(), gone); !in.State.Ended() || !strings.Contains(in.Reason, "gone from the registry") {
		t.Fatalf("cancelled: %+v, want replaced", in)
	}

	// The replacements register and renew; the silent one's lapsed lease
	// is now its own, not a partition's: replaced.
	for _, id := range h.prov.launched[3:] {
		register(t, reg, h.clock.Now(), id, registry.StatusUp)
	}
	for i := 0; i < 4; i++ {
		h.clock.Advance(15 * time.Second)
		for _, id := range h.prov.launched[3:] {
			if err := reg.Renew(h.clock.Now(), registry.RenewRequest{App: "web", ID: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ls, _ := leaseOf(t, reg, h.clock.Now(), silent); !ls.Expired || ls.SelfPreservation {
		t.Fatalf("silent lease %+v, want expired without self-preservation", ls)
	}
	h.reconcile(3)
	if in := find(h.instances(), silent); !in.State.Ended() || !strings.Contains(in.Reason, "lease expired") {
		t.Fatalf("silent: %+v, want replaced for its lapsed lease", in)
	}
}

// TestRegistryDrain: a scale-in takes the victim OUT_OF_SERVICE at once and
// sends it nothing until clients have refreshed; then the drain goes on
// as configured (here a graceful stop: SIGTERM, SIGKILL after grace), and
// the ended instance's registration is cancelled.
func TestRegistryDrain(t *testing.T) {
	h, reg := newRegistryHarness(t, registryGroup)
	h.reconcile(2)
	for _, id := range h.prov.launched {
		register(t, reg, h.clock.Now(), id, registry.StatusUp)
	}
	h.reconcile(2)
	h.clock.Advance(time.Second)
	h.reconcile(1)
	var victim string
	for _, in := range h.instances() {
		if in.State == model.Draining {
			victim = in.ID
		}
	}
	if victim == "" {
		t.Fatal("nothing drains after scale-in")
	}
	start := h.clock.Now()
	ls, err := leaseOf(t, reg, start, victim)
	if err != nil || ls.Status != registry.StatusOutOfService {
		t.Fatalf("victim's registration %+v %v, want OUT_OF_SERVICE at once", ls, err)
	}
	// Its client re-registering as UP does not put it back in rotation.
	register(t, reg, start, victim, registry.StatusUp)
	for h.clock.Now().Sub(start) < 30*time.Second-5*time.Second {
		h.clock.Advance(5 * time.Second)
		st := h.reconcile(1)
		if len(h.prov.signals[victim]) != 0 {
			t.Fatalf("signalled %v %v after the drain began, before clients refreshed", h.prov.signals[victim], h.clock.Now().Sub(start))
		}
		if st.Wake.After(start.Add(30 * time.Second)) {
			t.Fatalf("wake %v is after the refresh ends", st.Wake)
		}
	}
	if ls, _ := leaseOf(t, reg, h.clock.Now(), victim); ls.Status != registry.StatusOutOfService {
		t.Fatalf("re-registered victim shows %s", ls.Status)
	}
	h.clock.Advance(5 * time.Second) // 30 s: clients have refreshed
	h.reconcile(1)
	if got := h.prov.signals[victim]; len(got) != 1 || got[0] != syscall.SIGTERM {
		t.Fatalf("signals after the refresh: %v, want SIGTERM", got)
	}
	// The graceful stop's grace counts from SIGTERM, not the drain's start.
	h.clock.Advance(5 * time.Second)
	h.reconcile(1)
	if in := find(h.instances(), victim); in.State != model.Draining {
		t.Fatalf("killed 5 s after SIGTERM (grace 10s): %+v", in)
	}
	h.clock.Advance(5 * time.Second)
	h.reconcile(1)
	if in := find(h.instances(), victim); in.State != model.Terminated {
		t.Fatalf("10 s after SIGTERM: %+v, want terminated", in)
	}
	if _, err := leaseOf(t, reg, h.clock.Now(), victim); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("terminated victim still registered: %v", err)
	}
}

// failingRegistry refuses TakeOut, as a registry whose store fails would.
type failingRegistry struct {
	*registry.Registry
	fail bool
}

func (f *failingRegistry) TakeOut(now time.Time, app, id string) error {
	if f.fail {
		return errors.New("store unavailable")
	}
	return f.Registry.TakeOut(now, app, id)
}

// TestRegistryTakeOutRetried: a refused OUT_OF_SERVICE shows as the
// instance's condition, keeps it busy, and is retried with backoff; the
// refresh wait still counts from the drain's start.
func TestRegistryTakeOutRetried(t *testing.T) {
	h, reg := newRegistryHarness(t, registryGroup)
	fr := &failingRegistry{Registry: reg, fail: true}
	h.opt.Registry = fr
	h.restart()
	h.reconcile(1)
	id := h.prov.launched[0]
	register(t, reg, h.clock.Now(), id, registry.StatusUp)
	h.reconcile(1)
	h.reconcile(0)
	in := find(h.instances(), id)
	if in.State != model.Draining || !strings.Contains(in.Condition, "registry OUT_OF_SERVICE failed") {
		t.Fatalf("refused take-out: %+v, want draining with the failure as condition", in)
	}
	if ls, _ := leaseOf(t, reg, h.clock.Now(), id); ls.Status != registry.StatusUp {
		t.Fatalf("status %s", ls.Status)
	}
	fr.fail = false
	h.clock.Advance(10 * time.Second) // past the first retry's backoff (≤ 2 s)
	h.reconcile(0)
	in = find(h.instances(), id)
	if ls, _ := leaseOf(t, reg, h.clock.Now(), id); ls.Status != registry.StatusOutOfService || in.Condition != "" {
		t.Fatalf("after the retry: status %s, condition %q", ls.Status, in.Condition)
	}
	if len(h.prov.signals[id]) != 0 {
		t.Fatal("signalled before clients refreshed")
	}
}

// TestRegistryRefreshWithoutARegistry: a reconciler given no registry (the
// simulator's) still waits refresh before a drain goes on, so a simulated
// drain lasts as long as a real one; readiness and health ignore it.
func TestRegistryRefreshWithoutARegistry(t *testing.T) {
	h := newHarness(t, registryGroup)
	h.reconcile(1)
	if st := h.reconcile(1); st.InService != 1 {
		t.Fatalf("without a registry, readiness waits for it: %+v", st)
	}
	id := h.prov.launched[0]
	h.reconcile(0)
	start := h.clock.Now()
	for h.clock.Now().Sub(start) < 25*time.Second {
		h.clock.Advance(5 * time.Second)
		h.reconcile(0)
		if len(h.prov.signals[id]) != 0 {
			t.Fatalf("signalled %v after the drain began, before the refresh", h.clock.Now().Sub(start))
		}
	}
	h.clock.Advance(5 * time.Second)
	h.reconcile(0)
	if got := h.prov.signals[id]; len(got) != 1 || got[0] != syscall.SIGTERM {
		t.Fatalf("signals after the refresh: %v, want SIGTERM", got)
	}
}
