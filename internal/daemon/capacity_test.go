package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// memConfig is the config of the provider kind "mem", an in-memory system
// owning its instances, for the daemon's tests.
type memConfig struct {
	Workload string `yaml:"workload" default:"'{{.Group}}'" doc:"The workload."`
}

func (c *memConfig) Validate() error {
	if c.Workload == "" {
		return config.Problem("workload", "required")
	}
	return nil
}

// memKind registers sys as the provider kind "mem".
func memKind(sys *capacitytest.Memory) provider.Kind {
	return provider.NewKind[memConfig, *capacitytest.Memory]("mem", "An in-memory system.", func(*memConfig, provider.Deps) (*capacitytest.Memory, error) {
		return sys, nil
	})
}

// A group on a provider kind is scaled through its system: ebb's decision
// becomes the system's desired count, its instances are ebb's, and a count
// someone else set is taken as the group's capacity and logged.
func TestGroupOnACapacityProvider(t *testing.T) {
	sys := &capacitytest.Memory{Prefix: "pod-"}
	group := `
  - name: web
    capacity: {min: 1, max: 10}
    interval: 10s
    signals: {queue: {stale: 1m}}
    policies: [{queue: {signal: queue, per_instance: 10}}]
    behavior: {up: {limits: [{count: 10, per: 10s}]}}
    provider: {mem: {}}
`
	h := newHarnessWith(t, patient, group, Options{Providers: []provider.Kind{memKind(sys)}})
	sys.Now = h.clock.Now // launches stamped on the harness's clock
	reconcile := func() {
		t.Helper()
		h.d.mu.Lock()
		rec := h.d.groups["web"].rec
		h.d.mu.Unlock()
		if _, err := h.d.reconcileGroup(h.ctx, "web", rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	h.push("web", 30)
	h.tick(0)
	reconcile()
	sys.Converge()
	reconcile()
	if got := sys.Calls(); !slices.Equal(got, []string{"set 3"}) {
		t.Fatalf("calls %v; want the decision of 3 set in the system", got)
	}
	if n := len(h.instances("web")); n != 3 {
		t.Fatalf("%d instances recorded; want the system's 3", n)
	}

	sys.Edit(func(d *int, _ *[]provider.Instance) { *d = 6 }) // kubectl scale, by hand
	sys.Converge()
	reconcile()
	h.d.mu.Lock()
	desired := h.d.eng.States[h.d.groups["web"].index].Desired
	h.d.mu.Unlock()
	if desired != 6 {
		t.Fatalf("engine desired %d after the system was set to 6 by hand; want 6", desired)
	}
	var events []store.Event
	if err := h.d.st.View(func(tx *store.Tx) error {
		var err error
		events, err = tx.Events("web", 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != "outside" || !strings.Contains(events[0].Detail, "desired 3 → 6: set to 6 in the group's system, outside ebb") {
		t.Fatalf("events %+v; want the outside change logged", events)
	}
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("ebb fought the change: calls %v", got)
	}
	reconcile() // the instances the system added become ebb's, in service
	if got := sys.Calls(); len(got) != 0 {
		t.Fatalf("ebb fought the change: calls %v", got)
	}
	for _, in := range h.instances("web") {
		if in.State != model.InService {
			t.Errorf("instance %s is %s; want in service", in.ID, in.State)
		}
	}
}
