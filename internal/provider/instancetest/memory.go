package instancetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Memory is a machine whose processes are kept in memory, and an instance
// provider on it: a stand-in for local processes in tests of what drives
// an instance provider. An instance is identified as a local process is,
// by a model.Process: its PID and a start time no other process on the
// machine had. Every call on an instance checks both, so a record whose
// PID now names another process is gone. SIGTERM and SIGKILL stop an
// instance; it records every other signal it gets. It passes the suite
// (see its test); Harness returns the suite's view of it.
type Memory struct {
	mu    sync.Mutex
	procs map[int]*memProc // by PID; exited ones are kept, not running
	pid   int              // the last PID given
	ticks uint64           // the last start time given
}

type memProc struct {
	id, group, zone string
	start           uint64
	running         bool
	signals         []syscall.Signal
}

var (
	_ provider.Launcher   = (*Memory)(nil)
	_ provider.Terminator = (*Memory)(nil)
	_ provider.Checker    = (*Memory)(nil)
	_ provider.Signaler   = (*Memory)(nil)
	_ Finder              = (*Memory)(nil)
	_ Lister              = (*Memory)(nil)
)

// Launch starts a process for req. It refuses, starting nothing, an empty
// ID or group and one holding a slash.
func (m *Memory) Launch(ctx context.Context, req provider.LaunchRequest) (model.Instance, error) {
	if err := ctx.Err(); err != nil {
		return model.Instance{}, fmt.Errorf("launch %s/%s: %w", req.Group, req.ID, err)
	}
	if req.ID == "" || req.Group == "" || strings.Contains(req.ID+req.Group, "/") {
		return model.Instance{}, fmt.Errorf("launch %s/%s: invalid id or group", req.Group, req.ID)
	}
	return m.start(req), nil
}

// start starts a process for req, without a question.
func (m *Memory) start(req provider.LaunchRequest) model.Instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.procs == nil {
		m.procs = map[int]*memProc{}
	}
	m.pid++
	m.ticks++
	m.procs[m.pid] = &memProc{id: req.ID, group: req.Group, zone: req.Zone, start: m.ticks, running: true}
	return m.instance(m.pid)
}

// instance returns the record of the process at pid; m.mu is held.
func (m *Memory) instance(pid int) model.Instance {
	p := m.procs[pid]
	return model.Instance{
		ID: p.id, Group: p.group, Zone: p.zone,
		Addr:    fmt.Sprintf("127.0.0.1:%d", 20000+pid%40000),
		State:   model.Launching,
		Process: &model.Process{PID: pid, StartTime: p.start},
	}
}

// lookup returns the running process inst names, or nil; m.mu is held.
func (m *Memory) lookup(inst model.Instance) (*memProc, error) {
	if inst.Process == nil {
		return nil, errors.New("no process recorded")
	}
	p := m.procs[inst.Process.PID]
	if p == nil || !p.running || p.start != inst.Process.StartTime {
		return nil, nil
	}
	return p, nil
}

// Alive reports whether the process inst names runs.
func (m *Memory) Alive(ctx context.Context, inst model.Instance) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("check %s: %w", inst.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.lookup(inst)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", inst.ID, err)
	}
	return p != nil, nil
}

// Signal delivers sig to the process inst names.
func (m *Memory) Signal(ctx context.Context, inst model.Instance, sig syscall.Signal) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signal %s: %w", inst.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.lookup(inst)
	if err != nil {
		return fmt.Errorf("signal %s: %w", inst.ID, err)
	}
	if p == nil {
		return fmt.Errorf("signal %s: %w", inst.ID, provider.ErrGone)
	}
	p.deliver(sig)
	return nil
}

func (p *memProc) deliver(sig syscall.Signal) {
	if sig != syscall.SIGKILL {
		p.signals = append(p.signals, sig)
	}
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL {
		p.running = false
	}
}

// Terminate stops the process inst names, if it runs.
func (m *Memory) Terminate(ctx context.Context, inst model.Instance) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("terminate %s: %w", inst.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.lookup(inst)
	if err != nil {
		return fmt.Errorf("terminate %s: %w", inst.ID, err)
	}
	if p != nil {
		p.deliver(syscall.SIGTERM)
	}
	return nil
}

// Find returns the running process launched for group/id.
func (m *Memory) Find(ctx context.Context, group, id string) (model.Instance, bool, error) {
	found, err := m.scan(ctx, group, id)
	if err != nil || len(found) == 0 {
		return model.Instance{}, false, err
	}
	return found[0], true, nil
}

// List returns the running processes of group.
func (m *Memory) List(ctx context.Context, group string) ([]model.Instance, error) {
	return m.scan(ctx, group, "")
}

func (m *Memory) scan(ctx context.Context, group, id string) ([]model.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan %s: %w", group, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Instance
	for _, pid := range m.pids() {
		p := m.procs[pid]
		if p.running && p.group == group && (id == "" || p.id == id) {
			inst := m.instance(pid)
			inst.Zone = "" // as a process scan cannot tell
			out = append(out, inst)
		}
	}
	return out, nil
}

// pids returns the PIDs of every process, in order; m.mu is held.
func (m *Memory) pids() []int {
	var pids []int
	for pid := range m.procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// Harness returns the suite's view of the machine, with Open returning m
// itself: it holds nothing but the machine. The machine acts at once, so
// the suite waits for it briefly.
func (m *Memory) Harness() Harness {
	return Harness{
		Wait: 200 * time.Millisecond,
		Open: func(*testing.T) Provider { return m },
		Refused: func(_ *testing.T, group string) (provider.Launcher, provider.LaunchRequest) {
			return m, provider.LaunchRequest{ID: "bad/id", Group: group}
		},
		Ready: func(*testing.T, model.Instance) {},
		Running: func(_ *testing.T, inst model.Instance) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			p, _ := m.lookup(inst)
			return p != nil && p.id == inst.ID && p.group == inst.Group
		},
		Census: func(_ *testing.T, group string) []string {
			m.mu.Lock()
			defer m.mu.Unlock()
			var ids []string
			for _, p := range m.procs {
				if p.running && p.group == group {
					ids = append(ids, p.id)
				}
			}
			return ids
		},
		Signals: func(t *testing.T, inst model.Instance) []syscall.Signal {
			m.mu.Lock()
			defer m.mu.Unlock()
			p := m.procs[inst.Process.PID]
			if p == nil || p.start != inst.Process.StartTime {
				t.Fatalf("no process %+v", *inst.Process)
			}
			return slices.Clone(p.signals)
		},
		Crash: func(t *testing.T, inst model.Instance) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if p := m.procs[inst.Process.PID]; p != nil && p.start == inst.Process.StartTime {
				p.running = false
			}
		},
		Recycled: func(_ *testing.T, inst model.Instance) model.Instance {
			proc := *inst.Process
			proc.StartTime++ // PIDs are never reused here: no process has it
			inst.Process = &proc
			return inst
		},
		Unlaunched: func(_ *testing.T, req provider.LaunchRequest) model.Instance {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.pid++ // a PID no process has had
			return model.Instance{ID: req.ID, Group: req.Group, Zone: req.Zone, State: model.Launching,
				Process: &model.Process{PID: m.pid, StartTime: m.ticks + 1}}
		},
	}
}
