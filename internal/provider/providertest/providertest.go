// Package providertest checks what a provider of processes on this machine
// does beyond the instance contract that instancetest checks for every
// instance provider: the command and environment templates it renders, and
// SIGKILL after the grace when SIGTERM is ignored. The provider under test
// runs Command with Env (see script.go for what that process does) and
// should write each instance's output to a file it reports through
// LogPather.
//
// Every process the suite starts is SIGKILLed (with its process group) when
// its test ends, after checking /proc that the PID still names it, and ends on
// its own after about a minute in any case.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Provider is what the suite tests: every capability at once.
type Provider interface {
	provider.Launcher
	provider.Terminator
	provider.Checker
	provider.Signaler
}

// LogPather is implemented by providers that write an instance's output to a
// file. The suite reads the instances' output through it; the cases that need
// it are skipped for providers without it.
type LogPather interface {
	LogPath(inst model.Instance) string
}

const (
	// callTimeout bounds each provider call; Terminate of a stubborn
	// instance takes the provider's grace, which tests keep short.
	callTimeout = 30 * time.Second
	// outputTimeout bounds the wait for a line in an instance's log.
	outputTimeout = 10 * time.Second
	pollPeriod    = 20 * time.Millisecond
)

// Run runs the checks. newProvider returns a fresh provider each time it
// is called. Subtests run in parallel.
func Run(t *testing.T, newProvider func(t *testing.T) Provider) {
	t.Run("process group", func(t *testing.T) {
		t.Parallel()
		testProcessGroup(t, newProvider(t))
	})
	t.Run("sigkill after grace", func(t *testing.T) {
		t.Parallel()
		testSIGKILLAfterGrace(t, newProvider(t))
	})
	t.Run("templates", func(t *testing.T) {
		t.Parallel()
		testTemplates(t, newProvider(t))
	})
}

// testProcessGroup checks that a signal reaches the instance's whole
// process group (its children too), and SIGTERM at Terminate as well.
func testProcessGroup(t *testing.T, p Provider) {
	inst := launch(t, p, provider.LaunchRequest{ID: "i-1", Group: "web", Zone: "zone-a"})
	path := logPath(t, p, inst)
	waitOutput(t, path, "leader: ready", "child: ready")
	if err := p.Signal(callCtx(t), inst, syscall.SIGUSR1); err != nil {
		t.Fatalf("Signal(SIGUSR1): %v", err)
	}
	waitOutput(t, path, "leader: usr1", "child: usr1")
	if err := p.Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	wantAlive(t, p, inst, false)
	waitOutput(t, path, "leader: term")
}

// testSIGKILLAfterGrace needs the provider's grace short (well under
// callTimeout).
func testSIGKILLAfterGrace(t *testing.T, p Provider) {
	inst := launch(t, p, provider.LaunchRequest{ID: "i-5", Group: StubbornGroup})
	path := logPath(t, p, inst)
	waitOutput(t, path, "leader: ready", "child: ready")
	if err := p.Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	wantAlive(t, p, inst, false)
	if out := readOutput(t, path); strings.Contains(out, "term") {
		t.Errorf("a stubborn instance handled SIGTERM; its output:\n%s", out)
	}
}

func testTemplates(t *testing.T, p Provider) {
	req := provider.LaunchRequest{ID: "i-6", Group: "tmpl", Zone: "zone-c"}
	inst := launch(t, p, req)
	_, port, err := net.SplitHostPort(inst.Addr)
	if err != nil {
		t.Fatalf("Launch returned Addr %q: %v", inst.Addr, err)
	}
	values := fmt.Sprintf("id=%s port=%s zone=%s group=%s addr=%s", req.ID, port, req.Zone, req.Group, inst.Addr)
	path := logPath(t, p, inst)
	waitOutput(t, path, "args "+values+"\n", "env "+values+"\n")
	if info, err := os.Stat(path); err != nil || info.Size() == 0 {
		t.Errorf("log file %s: %v", path, err)
	}
}

// launch launches req and makes sure its process group is gone when the
// test ends.
func launch(t *testing.T, p Provider, req provider.LaunchRequest) model.Instance {
	t.Helper()
	inst, err := p.Launch(callCtx(t), req)
	if err != nil {
		t.Fatalf("Launch(%+v): %v", req, err)
	}
	t.Cleanup(func() { stop(t, p, inst) })
	return inst
}

// stop SIGKILLs the instance's process group if /proc says its PID still
// names it, without relying on the provider; instances without a process
// are terminated through the provider.
func stop(t *testing.T, p Provider, inst model.Instance) {
	if inst.Process == nil {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if err := p.Terminate(ctx, inst); err != nil {
			t.Errorf("clean up %s: %v", inst.ID, err)
		}
		return
	}
	pid := inst.Process.PID
	if st, ok := startTime(pid); !ok || st != inst.Process.StartTime || pid <= 1 {
		return
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("clean up %s: kill process group %d: %v", inst.ID, pid, err)
	}
}

// callCtx bounds one provider call.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func wantAlive(t *testing.T, p Provider, inst model.Instance, want bool) {
	t.Helper()
	got, err := p.Alive(callCtx(t), inst)
	if err != nil {
		t.Fatalf("Alive(%s): %v", inst.ID, err)
	}
	if got != want {
		t.Fatalf("Alive(%s) = %t, want %t", inst.ID, got, want)
	}
}

// logPath returns where inst's output goes, or skips the test when the
// provider does not say.
func logPath(t *testing.T, p Provider, inst model.Instance) string {
	t.Helper()
	lp, ok := p.(LogPather)
	if !ok {
		t.Skipf("%T does not implement LogPather; the case reads the instance's output", p)
	}
	path := lp.LogPath(inst)
	if path == "" {
		t.Fatalf("LogPath(%s) is empty; the provider under test must keep output", inst.ID)
	}
	return path
}

// waitOutput polls the log file until it holds every one of want, for at most
// outputTimeout, and returns its contents.
func waitOutput(t *testing.T, path string, want ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), outputTimeout)
	defer cancel()
	for {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("read instance output: %v", err)
		}
		missing := ""
		for _, w := range want {
			if !bytes.Contains(data, []byte(w)) {
				missing = w
				break
			}
		}
		if missing == "" {
			return string(data)
		}
		if err := (clock.Real{}).Sleep(ctx, pollPeriod); err != nil {
			t.Fatalf("%s does not show %q after %s; it holds:\n%s", path, missing, outputTimeout, data)
		}
	}
}

func readOutput(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read instance output: %v", err)
	}
	return string(data)
}

// startTime reads field 22 of /proc/PID/stat, independently of any provider.
func startTime(pid int) (uint64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 20 {
		return 0, false
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	return st, err == nil
}
