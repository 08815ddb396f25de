package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Launch starts the instance's process in its own session and returns it with
// its address and process identity. The process is not tied to ctx or to ebb:
// it keeps running when either ends. While ebb runs, the reaper reaps it when
// it exits, so no zombie lingers.
func (p *Provider) Launch(ctx context.Context, req provider.LaunchRequest) (model.Instance, error) {
	name := req.Group + "/" + req.ID
	if err := ctx.Err(); err != nil {
		return model.Instance{}, fmt.Errorf("launch %s: %w", name, err)
	}
	if err := checkRequest(req); err != nil {
		return model.Instance{}, fmt.Errorf("launch %s: %w", name, err)
	}
	port, err := freePort(ctx)
	if err != nil {
		return model.Instance{}, fmt.Errorf("launch %s: %w", name, err)
	}
	data := config.TemplateData{
		ID:    req.ID,
		Group: req.Group,
		Zone:  req.Zone,
		Port:  port,
		Addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
	}
	cmd, err := p.newCmd(data)
	if err != nil {
		return model.Instance{}, fmt.Errorf("launch %s: %w", name, err)
	}
	proc, err := p.start(cmd, req)
	if err != nil {
		return model.Instance{}, fmt.Errorf("launch %s: %w", name, err)
	}
	return model.Instance{
		ID:      req.ID,
		Group:   req.Group,
		Zone:    req.Zone,
		Addr:    data.Addr,
		State:   model.Launching,
		Process: &proc,
	}, nil
}

// checkRequest rejects IDs and groups that cannot name a log file of their
// own (LogDir/GROUP/ID.log).
func checkRequest(req provider.LaunchRequest) error {
	for _, f := range []struct{ name, value string }{{"id", req.ID}, {"group", req.Group}} {
		switch {
		case f.value == "":
			return fmt.Errorf("%s: required", f.name)
		case f.value == "." || f.value == "..", strings.ContainsAny(f.value, "/\x00"):
			return fmt.Errorf("%s %q: must not be . or .. or contain / or NUL", f.name, f.value)
		}
	}
	return nil
}

// freePort asks the kernel for a free port on loopback and releases it for
// the instance to take. Another process could take it first; the instance
// then fails its readiness check and is replaced.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	return port, nil
}

// newCmd renders the command line and environment for one instance.
func (p *Provider) newCmd(data config.TemplateData) (*exec.Cmd, error) {
	args := make([]string, len(p.command))
	for i, t := range p.command {
		s, err := config.Execute(t, data)
		if err != nil {
			return nil, err
		}
		args[i] = s
	}
	// The marker lets Find recognise the process after a crash of ebb
	// lost the record of this launch.
	env := append(inheritedEnv(os.Environ()), envInstance+"="+data.Group+"/"+data.ID, envAddr+"="+data.Addr)
	if p.owner != "" {
		env = append(env, envOwner+"="+p.owner)
	}
	if p.environ != nil {
		env = append(env, p.environ()...)
	}
	for _, v := range p.env {
		s, err := config.Execute(v.tmpl, data)
		if err != nil {
			return nil, err
		}
		env = append(env, v.key+"="+s) // later entries win
	}
	cmd := exec.Command(args[0], args[1:]...)
	if cmd.Err != nil { // not found in PATH: nothing created yet
		return nil, cmd.Err
	}
	if p.dir != "" {
		// Checked here because exec reports a bad directory as
		// "fork/exec PROGRAM: no such file or directory".
		info, err := os.Stat(p.dir)
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("working directory %s: not a directory", p.dir)
		}
	}
	cmd.Env = env
	cmd.Dir = p.dir
	// A session of its own: no controlling terminal, its own process group
	// (PGID = PID) and no signal from ebb's terminal or group. No
	// Pdeathsig: the instance outlives ebb.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd, nil // Stdin nil is /dev/null
}

// Inherited lists the variables of ebb's own environment an instance gets,
// besides LC_*: what programs need to find things and speak the locale.
// Nothing else passes, since ebb's environment may hold secrets (EBB_TOKEN,
// cloud credentials) that any process of the same user could read in
// /proc/PID/environ. Config.Env adds what an instance needs.
var Inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG"}

// inheritedEnv keeps the entries of environ that instances inherit.
func inheritedEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(Inherited, k) || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	return out
}

// start starts cmd with its output appended to the instance's log file and
// records its identity. On error nothing is left running, and a log file
// created for it is removed.
func (p *Provider) start(cmd *exec.Cmd, req provider.LaunchRequest) (model.Process, error) {
	logFile, created, err := p.openLog(req)
	if err != nil {
		return model.Process{}, err
	}
	if logFile != nil {
		// An *os.File is handed to the child as is: no copying goroutine,
		// and the output keeps flowing after ebb exits.
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	children.listen()
	err = cmd.Start()
	if logFile != nil {
		_ = logFile.Close() // the child has its own copy
	}
	if err != nil {
		if created {
			_ = os.Remove(logFile.Name())
		}
		return model.Process{}, err
	}
	pid := cmd.Process.Pid
	// The child cannot be reaped before Wait, so its stat is there even if
	// it has already exited.
	st, found, err := readStat(pid)
	if err == nil && !found {
		err = fmt.Errorf("process %d vanished before it was reaped", pid)
	}
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // our unreaped child: the PID is still ours
		_ = cmd.Wait()
		return model.Process{}, err
	}
	// The reaper waits for it instead of Wait, and the pidfd Start may
	// have opened is closed: neither a thread nor a descriptor per instance.
	_ = cmd.Process.Release()
	children.add(pid)
	return model.Process{PID: pid, StartTime: st.StartTime}, nil
}

// openLog opens the instance's log file for appending, creating it and its
// directory. It returns a nil file when output is discarded, and whether
// the file was created by this call.
func (p *Provider) openLog(req provider.LaunchRequest) (f *os.File, created bool, err error) {
	if p.logDir == "" {
		return nil, false, nil
	}
	path := p.LogPath(model.Instance{ID: req.ID, Group: req.Group})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("create log directory: %w", err)
	}
	_, err = os.Lstat(path)
	created = errors.Is(err, fs.ErrNotExist)
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open log file: %w", err)
	}
	return f, created, nil
}

// Alive reports whether the instance's process still runs: its PID exists,
// has the recorded start time (so it is not a reused PID) and is not a
// zombie. Instances without a Process are an error.
func (p *Provider) Alive(ctx context.Context, inst model.Instance) (bool, error) {
	name := inst.Group + "/" + inst.ID
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("check %s: %w", name, err)
	}
	proc, err := processOf(inst)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", name, err)
	}
	ok, err := alive(proc)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", name, err)
	}
	return ok, nil
}

// Signal sends sig to the instance's process group, once it has checked that
// the group leader is this very process. It returns an error wrapping
// provider.ErrGone when the instance no longer runs.
func (p *Provider) Signal(ctx context.Context, inst model.Instance, sig syscall.Signal) error {
	name := inst.Group + "/" + inst.ID
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	proc, err := processOf(inst)
	if err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	if err := signalGroup(proc, sig); err != nil {
		return fmt.Errorf("signal %s (%v): %w", name, sig, err)
	}
	return nil
}

// Terminate sends SIGTERM to the instance's process group, waits up to Grace
// for the process to be gone, then sends SIGKILL and waits again. An instance
// that is not running (exited, never started, or its PID reused) is success
// and nothing is signalled. When ctx is done while waiting, it returns an
// error wrapping ctx.Err(); the process may still be running then.
func (p *Provider) Terminate(ctx context.Context, inst model.Instance) error {
	name := inst.Group + "/" + inst.ID
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("terminate %s: %w", name, err)
	}
	proc, err := processOf(inst)
	if err != nil {
		return fmt.Errorf("terminate %s: %w", name, err)
	}
	for _, step := range []struct {
		sig    syscall.Signal
		within time.Duration
	}{
		{syscall.SIGTERM, p.grace},
		{syscall.SIGKILL, killWait},
	} {
		if err := signalGroup(proc, step.sig); err != nil {
			if errors.Is(err, provider.ErrGone) {
				return nil
			}
			return fmt.Errorf("terminate %s: send %v: %w", name, step.sig, err)
		}
		gone, err := p.waitGone(ctx, proc, step.within)
		if err != nil {
			return fmt.Errorf("terminate %s: %w", name, err)
		}
		if gone {
			return nil
		}
	}
	return fmt.Errorf("terminate %s: pid %d still runs %s after SIGKILL", name, proc.PID, killWait)
}

// waitGone polls /proc until the process is gone or within has passed.
func (p *Provider) waitGone(ctx context.Context, proc model.Process, within time.Duration) (bool, error) {
	deadline := p.clock.Now().Add(within)
	for {
		ok, err := alive(proc)
		if err != nil {
			return false, err
		}
		if !ok {
			return true, nil
		}
		left := deadline.Sub(p.clock.Now())
		if left <= 0 {
			return false, nil
		}
		if err := p.clock.Sleep(ctx, min(pollPeriod, left)); err != nil {
			return false, err
		}
	}
}

// processOf returns the instance's process identity, refusing PIDs that
// kill(-PID) would turn into "every process" (1) or "my own group" (0).
func processOf(inst model.Instance) (model.Process, error) {
	if inst.Process == nil {
		return model.Process{}, errors.New("no process recorded")
	}
	if inst.Process.PID <= 1 {
		return model.Process{}, fmt.Errorf("invalid pid %d", inst.Process.PID)
	}
	return *inst.Process, nil
}

// alive reports whether proc still runs as the very process recorded.
func alive(proc model.Process) (bool, error) {
	st, found, err := readStat(proc.PID)
	if err != nil || !found {
		return false, err
	}
	return st.StartTime == proc.StartTime && st.running(), nil
}

// signalGroup sends sig to proc's process group if proc still runs.
func signalGroup(proc model.Process, sig syscall.Signal) error {
	ok, err := alive(proc)
	if err != nil {
		return err
	}
	if !ok {
		return provider.ErrGone
	}
	if err := syscall.Kill(-proc.PID, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return provider.ErrGone
		}
		return err
	}
	return nil
}
