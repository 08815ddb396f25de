package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/server"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/exec"
	"github.com/ebb-autoscaler/ebb/internal/store"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// hostile is text from outside ebb that would run script if the page
// inserted it as HTML.
const hostile = `<img src=x onerror=alert(1)>`

// instanceScript is a stand-in instance: it finishes on SIGUSR1 or SIGTERM
// and exits by itself after two minutes, so no run can leak it.
const instanceScript = `trap 'exit 0' USR1 TERM; i=0; while [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`

// batchGroups is how many small pushed-signal groups the overview lists
// beside web and feed.
const batchGroups = 40

// ebbConfig is the config the browser tests run: web, with local
// instances and two pushed signals; feed, whose signal is read by a command
// that prints hostile text (a failing read, so a condition quotes it); and
// batch-000… sized by a pushed queue. Samples are kept a second apart so a
// short test draws a curve.
func ebbConfig(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `store: {path: %q, signal_age: 1h, signal_max: 3600}
api: {listen: "127.0.0.1:0"}
groups:
  - name: web
    capacity: {min: 1, max: 8}
    interval: 1s
    signals:
      queue: {stale: 1h}
      cpu: {stale: 1h}
    policies:
      - queue: {signal: queue, per_instance: 10}
      - target: {signal: cpu, value: 0.6}
    behavior: {up: {limits: []}, down: {window: 0s, limits: []}}
    provider:
      local: {command: [/bin/sh, -c, %q], log_dir: %q, grace: 2s, zones: [a, b]}
    lifecycle:
      drain: {signal: SIGUSR1, heartbeat: 1s}
  - name: feed
    capacity: {min: 0, max: 4}
    interval: 1s
    signals:
      lag: {exec: {command: [/bin/echo, %q]}}
    policies: [{queue: {signal: lag, per_instance: 100}}]
`, filepath.Join(dir, "ebb.db"), instanceScript, filepath.Join(dir, "logs"), hostile)
	for i := range batchGroups {
		fmt.Fprintf(&b, `  - name: batch-%03d
    capacity: {min: 0, max: 20}
    interval: 1s
    signals: {queue: {stale: 1h}}
    policies: [{queue: {signal: queue, per_instance: 5}}]
    behavior: {up: {limits: []}}
`, i)
	}
	return b.String()
}

// ebbUnderTest is ebb run's daemon and API, in this process, on loopback.
type ebbUnderTest struct {
	URL   string
	Token string
	API   *client.Client
	d     *daemon.Daemon
	dir   string
	stop  func()
}

const token = "dashboard-test-token"

// startEbb runs the daemon with the real API server, as ebb run wires
// them (server.Listen, server.Handler, daemon.Run).
func startEbb() (*ebbUnderTest, error) {
	dir, err := os.MkdirTemp("", "ebb-dashboard-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(ebbConfig(dir)), 0o600); err != nil {
		return nil, err
	}
	d, err := daemon.New(daemon.Options{ConfigPath: path, Token: token, Log: slog.New(slog.DiscardHandler),
		Sources: []source.Kind{exec.Kind()}})
	if err != nil {
		return nil, err
	}
	srv, ln, err := server.Listen(d.API())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, server.Handler(d), func(h http.Handler) error {
			srv.Handler = h
			return srv.Serve(ln)
		})
	}()
	url := "http://" + ln.Addr().String()
	e := &ebbUnderTest{URL: url, Token: token, API: client.New(url, token), d: d, dir: dir}
	e.stop = func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		<-done
		e.killInstances()
		os.RemoveAll(dir)
	}
	return e, nil
}

// killInstances stops the instances ebb left running (it leaves them on
// purpose, for the next ebb to adopt), by the PIDs it recorded.
func (e *ebbUnderTest) killInstances() {
	st, err := store.Open(filepath.Join(e.dir, "ebb.db"), store.Options{})
	if err != nil {
		return
	}
	defer st.Close()
	var insts []model.Instance
	st.View(func(tx *store.Tx) error {
		insts, err = tx.Instances("web")
		return err
	})
	for _, in := range insts {
		if in.Process != nil && !in.State.Ended() {
			syscall.Kill(in.Process.PID, syscall.SIGKILL)
		}
	}
}

// The package shares one ebb and one Chromium, started by the first test
// that needs them and stopped after the last.
var (
	pool    testserver.Pool
	ebbOnce sync.Once
	ebbRun  *ebbUnderTest
	ebbErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if ebbRun != nil {
		ebbRun.stop()
	}
	pool.Stop()
	os.Exit(code)
}

func sharedEbb(t *testing.T) *ebbUnderTest {
	t.Helper()
	ebbOnce.Do(func() { ebbRun, ebbErr = startEbb() })
	if ebbErr != nil {
		t.Fatalf("start ebb: %v", ebbErr)
	}
	return ebbRun
}

// tab opens a new tab in the shared Chromium, closed when t ends; every
// action in it is bounded by a minute.
func tab(t *testing.T) context.Context {
	t.Helper()
	ctx, done := tabFor(t)
	t.Cleanup(done)
	return ctx
}

// tabFor opens a new tab in the shared Chromium; done closes it.
func tabFor(tb testing.TB) (ctx context.Context, done func()) {
	tb.Helper()
	c := testserver.Shared(tb, &pool, "chromium", testserver.Chromium)
	alloc, cancelAlloc := remote.NewAllocator(context.Background(), c.URL, remote.NoModifyURL)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	return ctx, func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	}
}

// thousand is a daemon with 1,000 groups sized by pushed signals, running
// (deciding) until t ends; its API is for the caller to serve.
func thousand(t testing.TB) *daemon.Daemon {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "store: {path: %q}\napi: {listen: \"127.0.0.1:0\"}\ngroups:\n", filepath.Join(dir, "ebb.db"))
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {name: g-%04d, capacity: {max: 10}, signals: {queue: {}}, policies: [{queue: {signal: queue, per_instance: 5}}]}\n", i)
	}
	path := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{ConfigPath: path, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return d
}
