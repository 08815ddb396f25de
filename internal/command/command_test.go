package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cmd     Cmd
		out     string
		wantErr string
		code    int
	}{
		{name: "stdout", cmd: Cmd{Argv: []string{"sh", "-c", "printf 42"}}, out: "42"},
		{name: "stdin", cmd: Cmd{Argv: []string{"cat"}, Stdin: []byte("in")}, out: "in"},
		{name: "env and dir", cmd: Cmd{Argv: []string{"sh", "-c", "printf \"$X $(pwd)\""}, Env: []string{"X=y"}, Dir: "/"}, out: "y /"},
		{name: "exit status with stderr", cmd: Cmd{Argv: []string{"sh", "-c", "echo first >&2; echo 'the cause' >&2; exit 3"}},
			wantErr: "exit status 3: the cause", code: 3},
		{name: "secrets blanked", cmd: Cmd{Argv: []string{"sh", "-c", "echo token hunter2 refused >&2; exit 1"}, Secrets: []string{"hunter2"}},
			wantErr: "exit status 1: token [redacted] refused", code: 1},
		{name: "temp fail", cmd: Cmd{Argv: []string{"sh", "-c", "exit 75"}}, wantErr: "exit status 75", code: 75},
		{name: "output capped", cmd: Cmd{Argv: []string{"sh", "-c", "printf 123456"}, MaxOut: 4}, wantErr: "output over 4 bytes"},
		{name: "no such program", cmd: Cmd{Argv: []string{"/nonexistent/prog"}}, wantErr: "no such file"},
		{name: "no command", cmd: Cmd{}, wantErr: "no command"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.cmd.Run(context.Background())
			if tt.wantErr == "" {
				if err != nil || string(out) != tt.out {
					t.Fatalf("= %q, %v; want %q", out, err, tt.out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v; want %q", err, tt.wantErr)
			}
			var ee *ExitError
			if tt.code != 0 && (!errors.As(err, &ee) || ee.Code != tt.code || ee.TempFail() != (tt.code == 75)) {
				t.Fatalf("err = %#v; want an ExitError with code %d", err, tt.code)
			}
		})
	}
}

// The whole process group goes when the context ends: a shell's child
// that would hold stdout open does not keep Run waiting.
func TestRunKillsTheProcessGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	pidFile := filepath.Join(t.TempDir(), "child")
	_, err := Cmd{Argv: []string{"sh", "-c", `sleep 30 & echo $! > "$0"; wait`, pidFile}}.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v; want killed at the deadline", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was killed with its group: it is gone, or a zombie
	// awaiting its reaper (init), never still sleeping.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil && !strings.Contains(string(stat), ") Z ") {
		t.Fatalf("the shell's child %d still runs: %s", pid, stat)
	}
}
