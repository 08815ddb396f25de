// Package testserver starts real servers for tests — Prometheus, Redis,
// NATS, PostgreSQL, RabbitMQ, and headless Chromium for the dashboard's
// browser tests — as child processes on 127.0.0.1, on free ports, each in
// its own temporary directory, and stops them by PID.
//
// A test package shares one server of each kind between its tests: it keeps
// a Pool, gets servers from it with Shared, and stops them all in TestMain.
// A server whose binary is missing fails the test when CI=true (the test
// command installs every server; a skipped integration test would let a
// broken source land), and skips it elsewhere.
package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ErrMissing is wrapped by a start function's error when the server's
// binary is not installed.
var ErrMissing = errors.New("server not installed")

// Binary returns path when it is an executable file, else an error wrapping
// ErrMissing that names the Debian package to install.
func Binary(path, pkg string) (string, error) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s (Debian package %s; scripts/test installs it)", ErrMissing, path, pkg)
	}
	return path, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a running server process.
type Proc struct {
	Name string
	Dir  string // the server's own directory, removed by Stop
	Log  string // its combined output
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
	stop sync.Once
}

// Start runs cmd in its own process group with its output in a log file
// under dir. Stop it with Stop.
func Start(name, dir string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, Dir: dir, Log: filepath.Join(dir, name+".log"), cmd: cmd, done: make(chan struct{})}
	f, err := os.Create(p.Log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the server's process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Ready polls ready until it succeeds, the process exits or within passes.
// The error quotes the end of the server's log.
func (p *Proc) Ready(within time.Duration, ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 10*time.Millisecond, 500*time.Millisecond
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if p.Exited() {
			return struct{}{}, backoff.Permanent(fmt.Errorf("exited: %v", p.err))
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return struct{}{}, ready(actx)
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(within))
	if err != nil {
		return fmt.Errorf("%s not ready: %w\n%s", p.Name, err, p.tail())
	}
	return nil
}

func (p *Proc) tail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop ends the server's process group (SIGTERM, then SIGKILL after 10s),
// waits for it and removes its directory.
func (p *Proc) Stop() {
	p.stop.Do(func() {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
		// Children left in the group (epmd, say) go too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = os.RemoveAll(p.Dir)
	})
}

// Pool holds the servers a test package shares.
type Pool struct {
	mu      sync.Mutex
	servers map[string]*entry
}

type entry struct {
	once sync.Once
	srv  any
	err  error
	stop func()
}

// Stoppable is a server a Pool can stop.
type Stoppable interface{ Stop() }

// Shared returns the pool's server under key, starting it with start the
// first time. A missing binary fails tb under CI=true and skips it
// elsewhere; any other start error fails it.
func Shared[S Stoppable](tb testing.TB, p *Pool, key string, start func() (S, error)) S {
	tb.Helper()
	p.mu.Lock()
	if p.servers == nil {
		p.servers = map[string]*entry{}
	}
	e := p.servers[key]
	if e == nil {
		e = &entry{}
		p.servers[key] = e
	}
	p.mu.Unlock()
	e.once.Do(func() {
		s, err := start()
		e.srv, e.err = s, err
		if err == nil {
			e.stop = s.Stop
		}
	})
	if e.err != nil {
		if errors.Is(e.err, ErrMissing) && os.Getenv("CI") != "true" {
			tb.Skipf("%s: %v", key, e.err)
		}
		tb.Fatalf("start %s: %v", key, e.err)
	}
	return e.srv.(S)
}

// Own starts a server for tb alone (one a test stops or breaks on
// purpose), with Shared's rule for a missing binary, and stops it when tb
// ends.
func Own[S Stoppable](tb testing.TB, start func() (S, error)) S {
	tb.Helper()
	s, err := start()
	if err != nil {
		if errors.Is(err, ErrMissing) && os.Getenv("CI") != "true" {
			tb.Skip(err)
		}
		tb.Fatalf("start a server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Main is a test package's TestMain: it runs the tests, stops the pool's
// servers and exits with the tests' status.
func (p *Pool) Main(m *testing.M) {
	code := m.Run()
	p.Stop()
	os.Exit(code)
}

// Stop stops every server the pool started. Call it from TestMain after
// m.Run.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.servers {
		if e.stop != nil {
			e.stop()
		}
	}
	p.servers = nil
}

// Dir makes a temporary directory for a server; its Proc removes it.
func Dir(name string) (string, error) {
	d, err := os.MkdirTemp("", "ebb-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("make a directory for %s: %w", name, err)
	}
	return d, nil
}
