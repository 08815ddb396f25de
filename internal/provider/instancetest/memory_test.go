package instancetest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// The in-memory provider passes the suite it stands in for.
func TestMemoryPassesTheSuite(t *testing.T) {
	Run(t, (&Memory{}).Harness())
}

// Each broken provider breaks one contract; the suite must fail it in the
// checks listed, and in no other.
var broken = []struct {
	name  string
	open  func(m *Memory) Provider
	fails []string
}{
	{
		name:  "terminate does nothing",
		open:  func(m *Memory) Provider { return terminateNothing{m} },
		fails: []string{"terminate stops the instance and nothing else", "terminate is idempotent", "a fresh provider manages what another launched", "find", "an ended context acts on nothing"},
	},
	{
		name:  "terminate stops the whole group",
		open:  func(m *Memory) Provider { return terminateGroup{m} },
		fails: []string{"terminate stops the instance and nothing else", "a recycled identifier is not the instance"},
	},
	{
		name:  "alive by PID alone",
		open:  func(m *Memory) Provider { return alivePID{m} },
		fails: []string{"a recycled identifier is not the instance"},
	},
	{
		name:  "signal by PID alone",
		open:  func(m *Memory) Provider { return signalPID{m} },
		fails: []string{"a recycled identifier is not the instance"},
	},
	{
		name: "signal reports gone without ErrGone",
		open: func(m *Memory) Provider { return signalPlainError{m} },
		fails: []string{"alive until it exits on its own", "a recycled identifier is not the instance",
			"terminate stops the instance and nothing else", "terminate is idempotent"},
	},
	{
		name:  "signal does nothing",
		open:  func(m *Memory) Provider { return signalNothing{m} },
		fails: []string{"a recycled identifier is not the instance", "signal reaches the instance", "a fresh provider manages what another launched", "an ended context acts on nothing"},
	},
	{
		name:  "a failed launch leaves its process",
		open:  func(m *Memory) Provider { return leakyLaunch{m} },
		fails: []string{"a failed launch leaves nothing running", "an ended context acts on nothing"},
	},
	{
		name:  "launch without the zone",
		open:  func(m *Memory) Provider { return launchNoZone{m} },
		fails: []string{"launch returns the instance, which runs"},
	},
	{
		name:  "calls ignore an ended context",
		open:  func(m *Memory) Provider { return ignoreContext{m} },
		fails: []string{"an ended context acts on nothing"},
	},
	{
		name:  "find matches a prefix",
		open:  func(m *Memory) Provider { return findPrefix{m} },
		fails: []string{"find"},
	},
	{
		name:  "list lists every group",
		open:  func(m *Memory) Provider { return listAll{m} },
		fails: []string{"list"},
	},
}

const brokenEnv = "EBB_INSTANCETEST_BROKEN"

// TestBrokenProviders runs the suite on each broken provider. It fails by
// design, so it runs only in the child process of
// TestSuiteFailsBrokenProviders.
func TestBrokenProviders(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("run by TestSuiteFailsBrokenProviders, in a process of its own")
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			m := &Memory{}
			h := m.Harness()
			h.Open = func(*testing.T) Provider { return b.open(m) }
			h.Refused = func(_ *testing.T, group string) (provider.Launcher, provider.LaunchRequest) {
				return b.open(m), provider.LaunchRequest{ID: "bad/id", Group: group}
			}
			Run(t, h)
		})
	}
}

// The suite fails each broken provider in exactly the checks of the
// contract it breaks.
func TestSuiteFailsBrokenProviders(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in the child process")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenProviders$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the suite on broken providers: %v, want exit status 1; output:\n%s", err, out)
	}
	failed := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenProviders/([^/\s]+)/(\S+)`).FindAllStringSubmatch(string(out), -1) {
		failed[m[1]] = append(failed[m[1]], m[2])
	}
	for _, b := range broken {
		var want []string
		for _, f := range b.fails {
			want = append(want, strings.ReplaceAll(f, " ", "_"))
		}
		slices.Sort(want)
		got := failed[strings.ReplaceAll(b.name, " ", "_")]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the suite failed %q, want %q", b.name, got, want)
		}
	}
	if t.Failed() {
		t.Logf("output of the suite on broken providers:\n%s", out)
	}
}

type terminateNothing struct{ *Memory }

func (terminateNothing) Terminate(context.Context, model.Instance) error { return nil }

type terminateGroup struct{ *Memory }

func (p terminateGroup) Terminate(ctx context.Context, inst model.Instance) error {
	all, err := p.List(ctx, inst.Group)
	for _, in := range all {
		_ = p.Memory.Terminate(ctx, in)
	}
	return err
}

type alivePID struct{ *Memory }

func (p alivePID) Alive(ctx context.Context, inst model.Instance) (bool, error) {
	return p.Memory.Alive(ctx, byPID(p.Memory, inst))
}

type signalPID struct{ *Memory }

func (p signalPID) Signal(ctx context.Context, inst model.Instance, sig syscall.Signal) error {
	return p.Memory.Signal(ctx, byPID(p.Memory, inst), sig)
}

// byPID returns inst with the start time of whatever now has its PID.
func byPID(m *Memory, inst model.Instance) model.Instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst.Process != nil && m.procs[inst.Process.PID] != nil {
		inst.Process = &model.Process{PID: inst.Process.PID, StartTime: m.procs[inst.Process.PID].start}
	}
	return inst
}

type signalPlainError struct{ *Memory }

func (p signalPlainError) Signal(ctx context.Context, inst model.Instance, sig syscall.Signal) error {
	err := p.Memory.Signal(ctx, inst, sig)
	if errors.Is(err, provider.ErrGone) {
		return errors.New("no such process")
	}
	return err
}

type signalNothing struct{ *Memory }

func (p signalNothing) Signal(ctx context.Context, inst model.Instance, _ syscall.Signal) error {
	return p.Memory.Signal(ctx, inst, 0)
}

type leakyLaunch struct{ *Memory }

func (p leakyLaunch) Launch(ctx context.Context, req provider.LaunchRequest) (model.Instance, error) {
	inst, err := p.Memory.Launch(ctx, req)
	if err != nil {
		p.start(req)
	}
	return inst, err
}

type launchNoZone struct{ *Memory }

func (p launchNoZone) Launch(ctx context.Context, req provider.LaunchRequest) (model.Instance, error) {
	inst, err := p.Memory.Launch(ctx, req)
	inst.Zone = ""
	return inst, err
}

type ignoreContext struct{ *Memory }

func (p ignoreContext) Launch(_ context.Context, req provider.LaunchRequest) (model.Instance, error) {
	return p.Memory.Launch(context.Background(), req)
}

func (p ignoreContext) Terminate(_ context.Context, inst model.Instance) error {
	return p.Memory.Terminate(context.Background(), inst)
}

type findPrefix struct{ *Memory }

func (p findPrefix) Find(ctx context.Context, group, id string) (model.Instance, bool, error) {
	all, err := p.List(ctx, group)
	for _, in := range all {
		if strings.HasPrefix(in.ID, id) {
			return in, true, err
		}
	}
	return model.Instance{}, false, err
}

type listAll struct{ *Memory }

func (p listAll) List(ctx context.Context, group string) ([]model.Instance, error) {
	var out []model.Instance
	for _, g := range []string{group, strings.TrimSuffix(group, "-other") + "-other"} {
		some, err := p.Memory.List(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, some...)
	}
	return out, nil
}
