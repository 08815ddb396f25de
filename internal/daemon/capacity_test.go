package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// memSystem is an in-memory system owning its instances, registered as the
// provider kind "mem" for the daemon's tests; converge is its controller.
type memSystem struct {
	mu      sync.Mutex
	desired int
	insts   []provider.Instance
	next    int
	calls   []string
}

type memConfig struct {
	Workload string `yaml:"workload" default:"'{{.Group}}'" doc:"The workload."`
}

func (c *memConfig) Validate() error {
	if c.Workload == "" {
		return config.Problem("workload", "required")
	}
	return nil
}

func (s *memSystem) Observe(context.Context) (provider.Observed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return provider.Observed{Desired: s.desired, Instances: slices.Clone(s.insts), Min: -1, Max: -1}, nil
}

func (s *memSystem) SetDesired(_ context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("set %d", n))
	s.desired = n
	return nil
}

func (s *memSystem) Remove(_ context.Context, victims []provider.Victim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range victims {
		s.calls = append(s.calls, "remove "+v.ID)
		if i := slices.IndexFunc(s.insts, func(in provider.Instance) bool { return in.ID == v.ID }); i >= 0 {
			s.insts = slices.Delete(s.insts, i, i+1)
			s.desired--
		}
	}
	return nil
}

func (s *memSystem) converge(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.insts) < s.desired {
		s.next++
		s.insts = append(s.insts, provider.Instance{ID: fmt.Sprintf("pod-%d", s.next), Ready: true, LaunchedAt: at})
	}
}

// memKind registers sys as the provider kind "mem".
func memKind(sys *memSystem) provider.Kind {
	return provider.NewKind[memConfig, *memSystem]("mem", "An in-memory system.", func(*memConfig, provider.Deps) (*memSystem, error) {
		return sys, nil
	})
}

// A group on a provider kind is scaled through its system: ebb's decision
// becomes the system's desired count, its instances are ebb's, and a count
// someone else set is taken as the group's capacity and logged.
func TestGroupOnACapacityProvider(t *testing.T) {
	sys := &memSystem{}
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
	sys.converge(h.clock.Now())
	reconcile()
	if got := sys.calls; !slices.Equal(got, []string{"set 3"}) {
		t.Fatalf("calls %v; want the decision of 3 set in the system", got)
	}
	if n := len(h.instances("web")); n != 3 {
		t.Fatalf("%d instances recorded; want the system's 3", n)
	}

	sys.mu.Lock()
	sys.desired = 6 // kubectl scale, by hand
	sys.mu.Unlock()
	sys.converge(h.clock.Now())
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
	if got := sys.calls; len(got) != 1 {
		t.Fatalf("ebb fought the change: calls %v", got)
	}
	reconcile() // the instances the system added become ebb's, in service
	if got := sys.calls; len(got) != 1 {
		t.Fatalf("ebb fought the change: calls %v", got)
	}
	for _, in := range h.instances("web") {
		if in.State != model.InService {
			t.Errorf("instance %s is %s; want in service", in.ID, in.State)
		}
	}
}
