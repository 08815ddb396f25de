package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// fakeProvider keeps instances in memory. It is for failure injection and
// counting: how many times each live instance was terminated, which
// signals it got.
type fakeProvider struct {
	mu         sync.Mutex
	alive      map[string]bool
	launched   []string
	kills      map[string]int // terminations of a live instance
	signals    map[string][]syscall.Signal
	failLaunch bool
	// failTerminate makes that many Terminate calls fail.
	failTerminate int
	launchCalls   int
	termCalls     int
	// exitOnSignal makes an instance exit when it gets a drain signal.
	exitOnSignal bool
}

func newFake() *fakeProvider {
	return &fakeProvider{alive: map[string]bool{}, kills: map[string]int{}, signals: map[string][]syscall.Signal{}}
}

func (f *fakeProvider) Launch(_ context.Context, req provider.LaunchRequest) (model.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.launchCalls++
	if f.failLaunch {
		return model.Instance{}, fmt.Errorf("no capacity")
	}
	f.alive[req.ID] = true
	f.launched = append(f.launched, req.ID)
	return model.Instance{ID: req.ID, Group: req.Group, Zone: req.Zone, Addr: "127.0.0.1:1", State: model.Launching}, nil
}

func (f *fakeProvider) Terminate(_ context.Context, inst model.Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.termCalls++
	if f.failTerminate > 0 {
		f.failTerminate--
		return fmt.Errorf("terminate %s: provider unavailable", inst.ID)
	}
	if f.alive[inst.ID] {
		f.kills[inst.ID]++
		f.alive[inst.ID] = false
	}
	return nil
}

func (f *fakeProvider) Alive(_ context.Context, inst model.Instance) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[inst.ID], nil
}

func (f *fakeProvider) Signal(_ context.Context, inst model.Instance, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.alive[inst.ID] {
		return provider.ErrGone
	}
	f.signals[inst.ID] = append(f.signals[inst.ID], sig)
	if f.exitOnSignal {
		f.alive[inst.ID] = false
	}
	return nil
}

func (f *fakeProvider) Find(_ context.Context, _, id string) (model.Instance, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.alive[id] {
		return model.Instance{}, false, nil
	}
	return model.Instance{ID: id, Addr: "127.0.0.1:1"}, true, nil
}

func (f *fakeProvider) kill(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive[id] = false
}

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// harness is a reconciler over a fake provider, a real store in a temporary
// directory and a fake clock.
type harness struct {
	t     *testing.T
	prov  *fakeProvider
	real  Provider // when set, used instead of prov
	opt   Options
	st    *store.Store
	clock *clock.Fake
	r     *Reconciler
	spec  Spec
	path  string
}

// specFor compiles the lifecycle of one group given in YAML.
func specFor(t *testing.T, group string) Spec {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte("groups:\n  - "+strings.ReplaceAll(strings.TrimSpace(group), "\n", "\n    ")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := NewSpec(f.Groups[0])
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func newHarness(t *testing.T, group string) *harness {
	t.Helper()
	spec := specFor(t, group)
	h := &harness{t: t, prov: newFake(), clock: clock.NewFake(t0), spec: spec, path: filepath.Join(t.TempDir(), "ebb.db")}
	h.open()
	t.Cleanup(func() { h.st.Close() })
	return h
}

// open (re)opens the store and builds a fresh reconciler, as a restarted
// daemon would.
func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	opt := h.opt
	opt.Clock = h.clock
	var p Provider = h.prov
	if h.real != nil {
		p = h.real
	}
	h.r = New(h.spec, p, st, opt)
}

func (h *harness) restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) reconcile(desired int) Status {
	h.t.Helper()
	s, err := h.r.Reconcile(context.Background(), func() int { return desired })
	if err != nil {
		h.t.Fatal(err)
	}
	checkRecords(h.t, h.r)
	return s
}

func (h *harness) instances() []model.Instance {
	h.t.Helper()
	var out []model.Instance
	if err := h.st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Instances(h.spec.Group)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	checkRecords(h.t, h.r)
	return out
}

func (h *harness) count(state model.InstanceState) int {
	n := 0
	for _, in := range h.instances() {
		if in.State == state {
			n++
		}
	}
	return n
}

func (f *fakeProvider) List(_ context.Context, group string) ([]model.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []model.Instance
	for id, ok := range f.alive {
		if ok {
			out = append(out, model.Instance{ID: id, Group: group, Addr: "127.0.0.1:1", State: model.Launching})
		}
	}
	return out, nil
}
