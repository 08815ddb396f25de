package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

// syncBuffer is a log destination the daemon's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ebb run without a token says once, at start, that mutations are refused;
// the random seed is not news at INFO.
func TestServeWarnsWithoutToken(t *testing.T) {
	t.Setenv("EBB_TOKEN", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(runConfig(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := daemon.Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := serve(ctx, opt, func(*daemon.Daemon, string) { cancel() }); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	want := `level=WARN msg="no API token configured (api.token_file or EBB_TOKEN): mutations are refused with 403"`
	if strings.Count(out, want) != 1 {
		t.Errorf("want the warning once:\n%s", out)
	}
	if strings.Contains(out, "random seed") {
		t.Errorf("the random seed is logged at INFO:\n%s", out)
	}
}

func TestStopOnSignalLogs(t *testing.T) {
	var logs syncBuffer
	ctx, stop := stopOnSignal(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	want := `level=INFO msg="stopping on SIGTERM; instances keep running"`
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("want %s in:\n%s", want, logs.String())
	}
}

// ebb run on a taken address fails (1) with one prefix and net's own words.
func TestRunAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := strings.Replace(runConfig(dir), `listen: "127.0.0.1:0"`, fmt.Sprintf("listen: %q", ln.Addr()), 1)
	code, _, errs := run(t, "run", "-c", write(t, "ebb.yaml", cfg))
	want := "ebb: api: listen tcp " + ln.Addr().String() + ": bind: address already in use\n"
	if code != 1 || errs != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errs, want)
	}
}
