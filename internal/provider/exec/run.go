package exec

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

	"github.com/cenkalti/backoff/v5"
)

const (
	// maxOutput caps what is read of a command's stdout.
	maxOutput = 4 << 20
	// maxStderr is how much of the end of stderr is kept for errors.
	maxStderr = 4096
	// exTempFail is sysexits' EX_TEMPFAIL: the command says try again.
	exTempFail = 75
	// waitDelay bounds the wait for stdout and stderr to close once the
	// command has exited or been killed: a child that escaped the process
	// group and kept them open must not hold the call.
	waitDelay = time.Second
)

// runner runs one command once.
type runner struct {
	argv    []string
	dir     string
	env     []string
	stdin   []byte
	timeout time.Duration
	secrets []string // values blanked out of what the command wrote
}

// transientError is a failure worth another run: the command timed out or
// exited with EX_TEMPFAIL.
type transientError struct{ msg string }

func (e *transientError) Error() string { return e.msg }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// run runs the command in its own process group, without a shell, killing
// the whole group (a shell's children too) when ctx ends or the timeout
// passes.
func (r *runner) run(ctx context.Context) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := osexec.CommandContext(actx, r.argv[0], r.argv[1:]...)
	cmd.Dir, cmd.Env = r.dir, r.env
	cmd.Stdin = bytes.NewReader(r.stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout := &capped{max: maxOutput}
	stderr := &tail{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("killed%s: %w", r.lastLine(stderr), ctx.Err())
	case actx.Err() != nil:
		return nil, &transientError{msg: fmt.Sprintf("killed after the %s timeout%s", r.timeout, r.lastLine(stderr))}
	case err != nil:
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			msg := fmt.Sprintf("%s%s", exitStatus(ee), r.lastLine(stderr))
			if ee.ExitCode() == exTempFail {
				return nil, &transientError{msg: msg}
			}
			return nil, errors.New(msg)
		}
		if errors.Is(err, osexec.ErrWaitDelay) {
			return nil, fmt.Errorf("exited, but something it started kept its output open past %s", waitDelay)
		}
		return nil, fmt.Errorf("run: %w", err)
	case stdout.over:
		return nil, fmt.Errorf("output over %d bytes", maxOutput)
	}
	return stdout.b.Bytes(), nil
}

func exitStatus(ee *osexec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ee.ExitCode())
}

// lastLine is ": " and the last non-empty line of stderr, with the
// secrets blanked out, or nothing.
func (r *runner) lastLine(t *tail) string {
	s := t.lastLine()
	if s == "" {
		return ""
	}
	s = redact(s, r.secrets)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return ": " + s
}

// redact blanks out every secret value in s. Values are matched whole, so a
// command that prints a secret in its errors does not leak it to ebb's.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// newCeiling returns the backoff schedule without randomization: the
// ceiling full jitter draws under.
func newCeiling() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = backoffInitial, backoffMax, 2, 0
	b.Reset()
	return b
}

// capped keeps the first max bytes written and notes whether there was
// more; it never fails a write, so the command is not killed by SIGPIPE
// and runs to its end.
type capped struct {
	b    bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
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
