// Package instancetest is the conformance suite every instance provider
// (one that launches and stops instances itself under IDs ebb chooses:
// local) passes against its real system. Each contract of provider.go's
// Launcher, Checker, Signaler and Terminator, and of the fleet's optional
// Find and List, is a subtest, checked against what the Harness observes of
// the system independently of the provider: the launched instance runs and
// a failed or cancelled launch leaves nothing running; Alive follows the
// instance and is false for an identifier that now names something else;
// a signal reaches the instance and nothing reaches what merely reuses its
// identifier; Terminate returns once the instance is gone, is idempotent
// and stops nothing else; a fresh provider manages what an earlier one
// launched; a call whose context has ended acts on nothing.
//
// Memory is a small provider that passes the suite; its tests also show the
// suite failing on providers that break one contract each.
package instancetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Provider is what the suite tests: what the fleet needs of an instance
// provider. Signal (provider.Signaler), Find (Finder) and List (Lister) are
// tested when the provider has them.
type Provider interface {
	provider.Launcher
	provider.Terminator
	provider.Checker
}

// Finder finds a launched instance by its ID, as a restarted ebb does for a
// launch whose outcome a crash left unrecorded (fleet.Finder).
type Finder interface {
	Find(ctx context.Context, group, id string) (model.Instance, bool, error)
}

// Lister lists every instance that runs for a group (fleet.Lister).
type Lister interface {
	List(ctx context.Context, group string) ([]model.Instance, error)
}

// Marker is the signal the suite sends last, through the provider, to learn
// that every signal sent before it has been handled: an instance must
// report a signal that reached it before a later Marker before that Marker.
// (A shell handles pending signals in number order, and SIGWINCH is above
// every signal the suite sends.) Its default action is to ignore it.
const Marker = syscall.SIGWINCH

// Harness is a system the suite launches instances on, and its own view of
// that system, which must not go through the provider under test (for local
// processes: /proc and the instance's own output). Every function fails t
// when it cannot answer.
type Harness struct {
	// Open opens a provider on the system. Two providers it opens
	// manage the same instances, as a restarted ebb's does.
	Open func(t *testing.T) Provider
	// Refused returns a launcher on the same system and a request in
	// group whose launch fails (a command that does not start, a quota
	// reached), as close to starting something as the system allows.
	Refused func(t *testing.T, group string) (provider.Launcher, provider.LaunchRequest)
	// Ready waits, for at most a few seconds, until inst has started and
	// handles SIGUSR1, SIGUSR2, SIGTERM (by exiting) and Marker.
	Ready func(t *testing.T, inst model.Instance)
	// Running reports whether inst, as Launch returned it, really runs.
	Running func(t *testing.T, inst model.Instance) bool
	// Census returns the IDs of the instances of group that really run.
	Census func(t *testing.T, group string) []string
	// Signals returns the signals inst has handled so far, in order. Used
	// only for providers that are a provider.Signaler.
	Signals func(t *testing.T, inst model.Instance) []syscall.Signal
	// Crash makes inst exit on its own, behind the provider's back. It
	// may return before the instance is gone.
	Crash func(t *testing.T, inst model.Instance)
	// Recycled returns inst's record changed as it would look once its
	// identifier names something else, inst itself still running under
	// it: for local processes, its PID with another start time.
	Recycled func(t *testing.T, inst model.Instance) model.Instance
	// Unlaunched returns the record Launch would have returned for req had
	// it started an instance, naming nothing that runs.
	Unlaunched func(t *testing.T, req provider.LaunchRequest) model.Instance
	// Wait bounds each wait for the system to show something (an
	// instance gone, a signal handled); zero means 10 s.
	Wait time.Duration
}

const (
	// callTimeout bounds each provider call.
	callTimeout = 30 * time.Second
	// defaultWait bounds each wait for the system to show something.
	defaultWait = 10 * time.Second
	pollPeriod  = 10 * time.Millisecond
)

// runs numbers the suite's runs in this process, so that groups are unique
// to one run: a system such as this machine's processes is shared by every
// test running on it.
var runs atomic.Int64

// Run runs the suite. Its subtests run in parallel, each on groups of its
// own.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h, run: fmt.Sprintf("it%d-%d", os.Getpid(), runs.Add(1)), wait: h.Wait}
	if s.wait <= 0 {
		s.wait = defaultWait
	}
	checks := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"launch returns the instance, which runs", s.launch},
		{"a failed launch leaves nothing running", s.failedLaunch},
		{"alive until it exits on its own", s.aliveUntilExit},
		{"a recycled identifier is not the instance", s.recycled},
		{"signal reaches the instance", s.signal},
		{"terminate stops the instance and nothing else", s.terminate},
		{"terminate is idempotent", s.terminateIdempotent},
		{"a fresh provider manages what another launched", s.fresh},
		{"find", s.find},
		{"list", s.list},
		{"an ended context acts on nothing", s.endedContext},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t)
		})
	}
}

type suite struct {
	h    Harness
	run  string
	wait time.Duration
}

// group names a group of this run.
func (s *suite) group(name string) string { return s.run + "-" + name }

func (s *suite) launch(t *testing.T) {
	p := s.h.Open(t)
	g := s.group("launch")
	req := provider.LaunchRequest{ID: "i-1", Group: g, Zone: "zone-a"}
	inst := s.start(t, p, req)
	if inst.ID != req.ID || inst.Group != req.Group || inst.Zone != req.Zone || inst.State != model.Launching {
		t.Errorf("Launch(%+v) = ID %q, group %q, zone %q, state %q; want the request's, launching",
			req, inst.ID, inst.Group, inst.Zone, inst.State)
	}
	if _, _, err := net.SplitHostPort(inst.Addr); err != nil {
		t.Errorf("Launch returned address %q: %v", inst.Addr, err)
	}
	if !inst.LaunchedAt.IsZero() || !inst.ReadyAt.IsZero() || !inst.StateSince.IsZero() || !inst.HeartbeatAt.IsZero() {
		t.Errorf("Launch set bookkeeping times (launched %v, ready %v, state since %v, heartbeat %v); they are the caller's",
			inst.LaunchedAt, inst.ReadyAt, inst.StateSince, inst.HeartbeatAt)
	}
	if !s.h.Running(t, inst) {
		t.Fatalf("Launch returned %+v, which does not run", inst)
	}
	s.wantCensus(t, g, req.ID)
	s.wantAlive(t, p, inst, true)
}

func (s *suite) failedLaunch(t *testing.T) {
	g := s.group("refused")
	l, req := s.h.Refused(t, g)
	inst, err := l.Launch(callCtx(t), req)
	if err == nil {
		s.cleanup(t, inst)
		t.Fatalf("Launch(%+v) = %+v; the harness says it fails", req, inst)
	}
	s.wantCensus(t, g)
}

func (s *suite) aliveUntilExit(t *testing.T) {
	p := s.h.Open(t)
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: s.group("exit")})
	s.h.Ready(t, inst)
	s.wantAlive(t, p, inst, true)
	s.h.Crash(t, inst)
	s.waitGone(t, inst)
	s.wantAlive(t, p, inst, false)
	if sg, ok := p.(provider.Signaler); ok {
		if err := sg.Signal(callCtx(t), inst, syscall.SIGUSR1); !errors.Is(err, provider.ErrGone) {
			t.Errorf("Signal to an instance that exited = %v, want an error wrapping ErrGone", err)
		}
	}
}

func (s *suite) recycled(t *testing.T) {
	p := s.h.Open(t)
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: s.group("recycled")})
	s.h.Ready(t, inst)
	other := s.h.Recycled(t, inst)
	if !s.h.Running(t, inst) {
		t.Fatalf("the harness's Recycled stopped %s", inst.ID)
	}
	s.wantAlive(t, p, other, false)
	sg, signals := p.(provider.Signaler)
	if signals {
		for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM} {
			if err := sg.Signal(callCtx(t), other, sig); !errors.Is(err, provider.ErrGone) {
				t.Errorf("Signal(%v) to a recycled identifier = %v, want an error wrapping ErrGone", sig, err)
			}
		}
	}
	if err := p.Terminate(callCtx(t), other); err != nil {
		t.Errorf("Terminate of a recycled identifier = %v, want success (that instance is gone)", err)
	}
	if signals {
		if got := s.settle(t, sg, inst); slices.Contains(got, syscall.SIGUSR1) || slices.Contains(got, syscall.SIGTERM) {
			t.Errorf("what now runs under the identifier got signals meant for the recycled one: it handled %v", got)
		}
	}
	if !s.h.Running(t, inst) {
		t.Fatal("Terminate of a recycled identifier stopped what now runs under it")
	}
	s.wantAlive(t, p, inst, true)
}

func (s *suite) signal(t *testing.T) {
	p := s.h.Open(t)
	sg, ok := p.(provider.Signaler)
	if !ok {
		t.Skipf("%T does not signal instances", p)
	}
	g := s.group("signal")
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: g})
	sibling := s.start(t, p, provider.LaunchRequest{ID: "i-2", Group: g})
	s.h.Ready(t, inst)
	s.h.Ready(t, sibling)
	if err := sg.Signal(callCtx(t), inst, syscall.SIGUSR1); err != nil {
		t.Fatalf("Signal(SIGUSR1): %v", err)
	}
	s.waitFor(t, inst.ID+" handles SIGUSR1", func() bool { return slices.Contains(s.h.Signals(t, inst), syscall.SIGUSR1) })
	if got := s.settle(t, sg, sibling); slices.Contains(got, syscall.SIGUSR1) {
		t.Errorf("a signal to %s reached %s too: it handled %v", inst.ID, sibling.ID, got)
	}
	if !s.h.Running(t, inst) {
		t.Fatal("the instance stopped after SIGUSR1, which it handles")
	}
	s.wantAlive(t, p, inst, true)
}

func (s *suite) terminate(t *testing.T) {
	p := s.h.Open(t)
	g := s.group("terminate")
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: g})
	sibling := s.start(t, p, provider.LaunchRequest{ID: "i-2", Group: g})
	s.h.Ready(t, inst)
	s.h.Ready(t, sibling)
	if err := p.Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if s.h.Running(t, inst) {
		t.Fatal("the instance still runs after Terminate returned")
	}
	if !s.h.Running(t, sibling) {
		t.Fatalf("Terminate of %s stopped %s too", inst.ID, sibling.ID)
	}
	s.wantCensus(t, g, sibling.ID)
	s.wantAlive(t, p, inst, false)
	s.wantAlive(t, p, sibling, true)
	if sg, ok := p.(provider.Signaler); ok {
		if err := sg.Signal(callCtx(t), inst, syscall.SIGUSR1); !errors.Is(err, provider.ErrGone) {
			t.Errorf("Signal after Terminate = %v, want an error wrapping ErrGone", err)
		}
	}
}

func (s *suite) terminateIdempotent(t *testing.T) {
	p := s.h.Open(t)
	g := s.group("idempotent")
	twice := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: g})
	crashed := s.start(t, p, provider.LaunchRequest{ID: "i-2", Group: g})
	s.h.Ready(t, twice)
	s.h.Ready(t, crashed)
	for i := range 2 {
		if err := p.Terminate(callCtx(t), twice); err != nil {
			t.Fatalf("Terminate #%d: %v", i+1, err)
		}
	}
	if s.h.Running(t, twice) {
		t.Fatal("the instance runs after two Terminates")
	}

	s.h.Crash(t, crashed)
	s.waitGone(t, crashed)
	if err := p.Terminate(callCtx(t), crashed); err != nil {
		t.Errorf("Terminate of an instance that exited on its own = %v, want success", err)
	}

	never := s.h.Unlaunched(t, provider.LaunchRequest{ID: "i-3", Group: g})
	s.wantAlive(t, p, never, false)
	if err := p.Terminate(callCtx(t), never); err != nil {
		t.Errorf("Terminate of an instance that never ran = %v, want success", err)
	}
	if sg, ok := p.(provider.Signaler); ok {
		if err := sg.Signal(callCtx(t), never, syscall.SIGUSR1); !errors.Is(err, provider.ErrGone) {
			t.Errorf("Signal to an instance that never ran = %v, want an error wrapping ErrGone", err)
		}
	}
	s.wantCensus(t, g)
}

// fresh hands an instance, through its JSON record, to a second provider,
// as ebb does after a restart.
func (s *suite) fresh(t *testing.T) {
	first := s.h.Open(t)
	launched := s.start(t, first, provider.LaunchRequest{ID: "i-1", Group: s.group("fresh"), Zone: "zone-b"})
	s.h.Ready(t, launched)
	record, err := json.Marshal(launched)
	if err != nil {
		t.Fatalf("marshal instance: %v", err)
	}
	var inst model.Instance
	if err := json.Unmarshal(record, &inst); err != nil {
		t.Fatalf("unmarshal instance: %v", err)
	}
	second := s.h.Open(t)
	s.wantAlive(t, second, inst, true)
	if sg, ok := second.(provider.Signaler); ok {
		if err := sg.Signal(callCtx(t), inst, syscall.SIGUSR1); err != nil {
			t.Fatalf("Signal from a fresh provider: %v", err)
		}
		s.waitFor(t, inst.ID+" handles SIGUSR1", func() bool { return slices.Contains(s.h.Signals(t, inst), syscall.SIGUSR1) })
	}
	if err := second.Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate from a fresh provider: %v", err)
	}
	if s.h.Running(t, launched) {
		t.Fatal("the instance still runs after a fresh provider's Terminate returned")
	}
	s.wantAlive(t, first, launched, false)
}

func (s *suite) find(t *testing.T) {
	p := s.h.Open(t)
	if _, ok := p.(Finder); !ok {
		t.Skipf("%T does not find instances", p)
	}
	g, other := s.group("find"), s.group("find-other")
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: g, Zone: "zone-a"})
	s.start(t, p, provider.LaunchRequest{ID: "i-2", Group: other})
	f := s.h.Open(t).(Finder) // a restarted ebb's
	found, ok, err := f.Find(callCtx(t), g, inst.ID)
	if err != nil || !ok {
		t.Fatalf("Find(%s, %s) = %t, %v; want it found", g, inst.ID, ok, err)
	}
	if found.ID != inst.ID || found.Group != g || found.Addr != inst.Addr || !reflect.DeepEqual(found.Process, inst.Process) {
		t.Errorf("Find = ID %q, group %q, addr %q, process %+v; launched %q, %q, %q, %+v",
			found.ID, found.Group, found.Addr, found.Process, inst.ID, inst.Group, inst.Addr, inst.Process)
	}
	if !s.h.Running(t, found) {
		t.Errorf("Find returned %+v, which does not run", found)
	}
	for _, q := range [][2]string{{g, "i-2"}, {g, "i-"}, {other, inst.ID}} {
		if got, ok, err := f.Find(callCtx(t), q[0], q[1]); ok || err != nil {
			t.Errorf("Find(%s, %s) = %+v, %t, %v; want not found", q[0], q[1], got, ok, err)
		}
	}
	if err := p.Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if got, ok, err := f.Find(callCtx(t), g, inst.ID); ok || err != nil {
		t.Errorf("Find after Terminate = %+v, %t, %v; want not found", got, ok, err)
	}
}

func (s *suite) list(t *testing.T) {
	p := s.h.Open(t)
	if _, ok := p.(Lister); !ok {
		t.Skipf("%T does not list instances", p)
	}
	g, other, empty := s.group("list"), s.group("list-other"), s.group("list-empty")
	var launched []model.Instance
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		launched = append(launched, s.start(t, p, provider.LaunchRequest{ID: id, Group: g}))
	}
	s.start(t, p, provider.LaunchRequest{ID: "i-4", Group: other})
	s.h.Ready(t, launched[2])
	s.h.Crash(t, launched[2])
	s.waitGone(t, launched[2])

	l := s.h.Open(t).(Lister)
	for _, c := range []struct {
		group string
		want  []string
	}{{g, []string{"i-1", "i-2"}}, {other, []string{"i-4"}}, {empty, nil}} {
		got, err := l.List(callCtx(t), c.group)
		if err != nil {
			t.Fatalf("List(%s): %v", c.group, err)
		}
		var ids []string
		for _, in := range got {
			ids = append(ids, in.ID)
			if in.Group != c.group || !s.h.Running(t, in) {
				t.Errorf("List(%s) holds %+v, which is of group %q and runs: %t", c.group, in, in.Group, s.h.Running(t, in))
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, c.want) {
			t.Errorf("List(%s) = %v, want %v", c.group, ids, c.want)
		}
	}
}

func (s *suite) endedContext(t *testing.T) {
	p := s.h.Open(t)
	g := s.group("ended")
	inst := s.start(t, p, provider.LaunchRequest{ID: "i-1", Group: g})
	s.h.Ready(t, inst)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if got, err := p.Launch(ctx, provider.LaunchRequest{ID: "i-2", Group: g}); err == nil {
		s.cleanup(t, got)
		t.Error("Launch with an ended context succeeded")
	}
	if ok, err := p.Alive(ctx, inst); err == nil {
		t.Errorf("Alive with an ended context = %t, want an error", ok)
	}
	sg, signals := p.(provider.Signaler)
	if signals {
		if err := sg.Signal(ctx, inst, syscall.SIGUSR1); err == nil || errors.Is(err, provider.ErrGone) {
			t.Errorf("Signal with an ended context = %v, want an error other than ErrGone", err)
		}
	}
	if err := p.Terminate(ctx, inst); err == nil {
		t.Error("Terminate with an ended context succeeded")
	}
	if f, ok := p.(Finder); ok {
		if _, _, err := f.Find(ctx, g, inst.ID); err == nil {
			t.Error("Find with an ended context succeeded")
		}
	}
	if l, ok := p.(Lister); ok {
		if _, err := l.List(ctx, g); err == nil {
			t.Error("List with an ended context succeeded")
		}
	}
	if signals {
		if got := s.settle(t, sg, inst); slices.Contains(got, syscall.SIGUSR1) || slices.Contains(got, syscall.SIGTERM) {
			t.Errorf("calls with an ended context signalled the instance: it handled %v", got)
		}
	}
	if !s.h.Running(t, inst) {
		t.Fatal("Terminate with an ended context stopped the instance")
	}
	s.wantCensus(t, g, inst.ID)
}

// start launches req and makes sure the instance is gone when the test ends.
func (s *suite) start(t *testing.T, p provider.Launcher, req provider.LaunchRequest) model.Instance {
	t.Helper()
	inst, err := p.Launch(callCtx(t), req)
	if err != nil {
		t.Fatalf("Launch(%+v): %v", req, err)
	}
	s.cleanup(t, inst)
	return inst
}

// cleanup crashes inst, if it still runs, when the test ends.
func (s *suite) cleanup(t *testing.T, inst model.Instance) {
	t.Cleanup(func() {
		if s.h.Running(t, inst) {
			s.h.Crash(t, inst)
		}
	})
}

// settle sends Marker to inst through the provider, waits until inst has
// handled it, and returns every signal inst has handled.
func (s *suite) settle(t *testing.T, sg provider.Signaler, inst model.Instance) []syscall.Signal {
	t.Helper()
	before := count(s.h.Signals(t, inst), Marker)
	if err := sg.Signal(callCtx(t), inst, Marker); err != nil {
		t.Fatalf("Signal(%v) to %s: %v", Marker, inst.ID, err)
	}
	var got []syscall.Signal
	s.waitFor(t, fmt.Sprintf("%s handles the marker signal %d", inst.ID, Marker), func() bool {
		got = s.h.Signals(t, inst)
		return count(got, Marker) > before
	})
	return got
}

func count(sigs []syscall.Signal, sig syscall.Signal) int {
	n := 0
	for _, s := range sigs {
		if s == sig {
			n++
		}
	}
	return n
}

// waitGone waits until the harness sees inst gone.
func (s *suite) waitGone(t *testing.T, inst model.Instance) {
	t.Helper()
	s.waitFor(t, inst.ID+" is gone", func() bool { return !s.h.Running(t, inst) })
}

// waitFor polls cond until it holds, for at most s.wait.
func (s *suite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(s.wait)
	defer deadline.Stop()
	tick := time.NewTicker(pollPeriod)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited %s for: %s", s.wait, what)
		case <-tick.C:
		}
	}
}

func (s *suite) wantAlive(t *testing.T, p provider.Checker, inst model.Instance, want bool) {
	t.Helper()
	got, err := p.Alive(callCtx(t), inst)
	if err != nil {
		t.Fatalf("Alive(%s): %v", inst.ID, err)
	}
	if got != want {
		t.Fatalf("Alive(%s) = %t, want %t", inst.ID, got, want)
	}
}

// wantCensus checks that exactly ids run in group, as the harness sees it.
func (s *suite) wantCensus(t *testing.T, group string, ids ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(s.h.Census(t, group)))
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("running in group %s: %q, want %q", group, got, want)
	}
}

// callCtx bounds one provider call.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}
