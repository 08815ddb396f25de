// Package command runs the user's commands for ebb's exec source and exec
// provider: without a shell, in a process group of its own that is killed
// whole (a shell's children too) when the context ends, with stdout capped
// and the end of stderr kept for the error, secret values blanked out of
// it.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitDelay bounds the wait for stdout and stderr to close once the
// command has exited or been killed: a child that left the process group
// and kept them open must not hold the call.
const waitDelay = time.Second

// maxStderr is how much of the end of stderr is kept.
const maxStderr = 4096

// Cmd is one command to run.
type Cmd struct {
	Argv  []string
	Dir   string
	Env   []string
	Stdin []byte
	// MaxOut caps stdout: more is an error.
	MaxOut int
	// Secrets are values blanked out of what an error quotes of stderr.
	Secrets []string
}

// ExitError is a command that ended with a non-zero status or a signal.
type ExitError struct {
	Code   int    // the exit status; -1 when killed by a signal
	Status string // "exit status 3", "killed by terminated"
	Stderr string // its last non-empty line, secrets blanked out
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return e.Status
	}
	return e.Status + ": " + e.Stderr
}

// TempFail reports whether the command asked to be tried again: exit
// status 75, sysexits' EX_TEMPFAIL.
func (e *ExitError) TempFail() bool { return e.Code == 75 }

// Run runs the command until it ends or ctx does. When ctx ends first, the
// process group is killed and the error wraps ctx's.
func (c Cmd) Run(ctx context.Context) ([]byte, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return nil, errors.New("no command")
	}
	cmd := osexec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	cmd.Stdin = bytes.NewReader(c.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout := &capped{max: c.MaxOut}
	stderr := &tail{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	last := c.redact(stderr.lastLine())
	switch {
	case ctx.Err() != nil:
		if last != "" {
			return nil, fmt.Errorf("killed (%s): %w", last, ctx.Err())
		}
		return nil, fmt.Errorf("killed: %w", ctx.Err())
	case err != nil:
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			e := &ExitError{Code: ee.ExitCode(), Status: fmt.Sprintf("exit status %d", ee.ExitCode()), Stderr: last}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				e.Status = "killed by " + ws.Signal().String()
			}
			return nil, e
		}
		if errors.Is(err, osexec.ErrWaitDelay) {
			return nil, fmt.Errorf("exited, but something it started kept its output open past %s", waitDelay)
		}
		return nil, err
	case c.MaxOut > 0 && stdout.over:
		return nil, fmt.Errorf("output over %d bytes", c.MaxOut)
	}
	return stdout.b.Bytes(), nil
}

// redact blanks out every secret value in s, and clips it.
func (c Cmd) redact(s string) string {
	for _, v := range c.Secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// capped keeps the first max bytes written (all with max 0) and notes
// whether there was more; it never fails a write, so the command is not
// killed by SIGPIPE and runs to its end.
type capped struct {
	b    bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.max <= 0 {
		return c.b.Write(p)
	}
	room := c.max - c.b.Len()
	if len(p) > room {
		c.over = true
		c.b.Write(p[:max(0, room)])
		return len(p), nil
	}
	return c.b.Write(p)
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
