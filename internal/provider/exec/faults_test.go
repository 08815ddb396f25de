package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// say is a command that records its run, prints $OUT, writes $ERR to
// stderr and exits with $CODE.
const say = `echo run >>"$DIR/runs"
[ -n "${ERR:-}" ] && printf '%s\n' "$ERR" >&2
printf '%s' "${OUT:-}"
exit "${CODE:-0}"
`

// TestSchemaErrors checks that output breaking schema version 1, and a
// failing command, give an error naming the command and what is wrong,
// and are not retried.
func TestSchemaErrors(t *testing.T) {
	const inst = `{"id": "a", "launched_at": "2026-01-01T00:00:00Z"}`
	tests := []struct {
		name string
		op   op
		out  string
		code string
		err  string
		want string
	}{
		{name: "wrong version", op: opObserve, out: `{"version": 2, "desired": 1}`, want: "observe command SCRIPT: output: version: 2, want 1"},
		{name: "no version", op: opObserve, out: `{"desired": 1}`, want: "version: missing, want 1"},
		{name: "unknown field", op: opObserve, out: `{"version": 1, "desired": 1, "replicas": 1}`, want: `output: unknown field "replicas"`},
		{name: "unknown instance field", op: opObserve, out: `{"version": 1, "desired": 1, "instances": [{"id": "a", "name": "x"}]}`, want: `unknown field "name"`},
		{name: "bad JSON", op: opObserve, out: `{"version": 1,`, want: "output: not JSON"},
		{name: "not JSON", op: opObserve, out: `desired=1`, want: "output: not JSON: invalid character"},
		{name: "two documents", op: opObserve, out: `{"version": 1, "desired": 1} {}`, want: "more than one JSON value"},
		{name: "empty", op: opObserve, out: ``, want: "observe command SCRIPT: output: empty, want a JSON object"},
		{name: "missing desired", op: opObserve, out: `{"version": 1, "instances": []}`, want: "output: desired: missing"},
		{name: "negative desired", op: opObserve, out: `{"version": 1, "desired": -1}`, want: "desired: -1, want ≥ 0"},
		{name: "desired a string", op: opObserve, out: `{"version": 1, "desired": "3"}`, want: "desired: a JSON string where an integer is wanted"},
		{name: "ready a string", op: opObserve, out: `{"version": 1, "desired": 1, "instances": [{"id": "a", "ready": "yes"}]}`, want: "instances.ready: a JSON string where true or false is wanted"},
		{name: "duplicate ids", op: opObserve, out: `{"version": 1, "desired": 2, "instances": [` + inst + `, ` + inst + `]}`, want: `instances[1].id: "a" is also instances[0].id`},
		{name: "no id", op: opObserve, out: `{"version": 1, "desired": 1, "instances": [{"launched_at": "2026-01-01T00:00:00Z"}]}`, want: "instances[0].id: missing"},
		{name: "no launch time", op: opObserve, out: `{"version": 1, "desired": 1, "instances": [{"id": "a"}]}`, want: "instances[0].launched_at: missing"},
		{name: "bad launch time", op: opObserve, out: `{"version": 1, "desired": 1, "instances": [{"id": "a", "launched_at": "yesterday"}]}`, want: `instances[0].launched_at: "yesterday" is not an RFC 3339 time`},
		{name: "min above max", op: opObserve, out: `{"version": 1, "desired": 1, "min": 3, "max": 2}`, want: "min: 3 is above max 2"},
		{name: "every problem", op: opObserve, out: `{"version": 1, "instances": [{"id": ""}]}`, want: "desired: missing; instances[0].id: missing; instances[0].launched_at: missing"},
		{name: "set_desired wrong version", op: opSetDesired, out: `{"version": 3}`, want: "set_desired command SCRIPT: output: version: 3, want 1"},
		{name: "set_desired unknown field", op: opSetDesired, out: `{"version": 1, "ok": true}`, want: `set_desired command SCRIPT: output: unknown field "ok"`},
		{name: "remove not JSON", op: opRemove, out: `done`, want: "remove command SCRIPT: output: not JSON"},
		{name: "exit status with stderr", op: opSetDesired, code: "3", err: "first line\nkubectl: forbidden", want: "set_desired command SCRIPT: exit status 3: kubectl: forbidden"},
		{name: "exit status without stderr", op: opRemove, code: "1", want: "remove command SCRIPT: exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			script := writeScript(t, dir, "say.sh", say)
			c := testConfig(t, script, map[string]string{"DIR": dir, "OUT": tt.out, "CODE": tt.code, "ERR": tt.err})
			c.Observe = []string{script}
			c.SetDesired, c.Remove = c.Observe, c.Observe
			clk, sleeps := fakeClock()
			p := openWith(t, c, clk)
			err := callOp(p, context.Background(), tt.op)
			want := strings.ReplaceAll(tt.want, "SCRIPT", script)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v; want it to contain %q", err, want)
			}
			if runs := len(lines(t, filepath.Join(dir, "runs"))); runs != 1 || len(sleeps) != 0 {
				t.Errorf("%d runs and %d backoff waits; want 1 and none: this is not transient", runs, len(sleeps))
			}
		})
	}
}

func callOp(p provider.Capacity, ctx context.Context, o op) error {
	switch o {
	case opObserve:
		_, err := p.Observe(ctx)
		return err
	case opSetDesired:
		return p.SetDesired(ctx, 2)
	}
	return p.Remove(ctx, []provider.Victim{{ID: "a"}})
}

// TestTempFailRetried checks that exit status 75 is retried tries times
// with backoff, and that a later success ends the retries.
func TestTempFailRetried(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tries    int
		failures int // runs that exit 75 before one succeeds
		wantRuns int
		wantErr  string
	}{
		{name: "always failing", tries: 3, failures: 100, wantRuns: 3, wantErr: "exit status 75: busy, try later (run 3 times)"},
		{name: "one try", tries: 1, failures: 100, wantRuns: 1, wantErr: "exit status 75: busy, try later"},
		{name: "recovers", tries: 3, failures: 2, wantRuns: 3},
		{name: "recovers at once", tries: 5, failures: 1, wantRuns: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			script := writeScript(t, dir, "busy.sh", `echo run >>"$DIR/runs"
if [ "$(wc -l <"$DIR/runs")" -le "$FAILURES" ]; then echo "busy, try later" >&2; exit 75; fi
`)
			c := testConfig(t, script, map[string]string{"DIR": dir, "FAILURES": strconv.Itoa(tt.failures)})
			c.Tries = tt.tries
			clk, sleeps := fakeClock()
			p := openWith(t, c, clk)
			err := p.SetDesired(context.Background(), 4)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("set desired: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v; want it to contain %q", err, tt.wantErr)
			}
			if runs := len(lines(t, filepath.Join(dir, "runs"))); runs != tt.wantRuns {
				t.Errorf("%d runs; want %d", runs, tt.wantRuns)
			}
			// One backoff wait between runs, each under its ceiling
			// (full jitter): 500ms, then 1s, 2s, ….
			if len(sleeps) != tt.wantRuns-1 {
				t.Fatalf("%d backoff waits; want %d", len(sleeps), tt.wantRuns-1)
			}
			ceiling := backoffInitial
			for i := range tt.wantRuns - 1 {
				if d := <-sleeps; d < 0 || d >= ceiling {
					t.Errorf("wait %d: %s, want in [0, %s)", i, d, ceiling)
				}
				ceiling *= 2
			}
		})
	}
}

// TestHangKilled checks that a command that hangs is killed at the timeout
// with its whole process group, retried as transient, and that a call
// whose context ends is killed at once and not retried.
func TestHangKilled(t *testing.T) {
	const hang = `echo run >>"$DIR/runs"
sleep 600 &
echo $! >>"$DIR/children"
wait
`
	t.Run("timeout", func(t *testing.T) {
		dir := t.TempDir()
		c := testConfig(t, writeScript(t, dir, "hang.sh", hang), map[string]string{"DIR": dir})
		c.Timeout, c.Tries = config.Duration(300*time.Millisecond), 2
		clk, _ := fakeClock()
		p := openWith(t, c, clk)
		start := time.Now()
		_, err := p.Observe(context.Background())
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "killed after the 300ms timeout (run 2 times)") {
			t.Fatalf("observe: %v; want killed after the timeout, twice", err)
		}
		if took > 5*time.Second {
			t.Errorf("took %s for two runs of 300ms", took)
		}
		children := lines(t, filepath.Join(dir, "children"))
		if len(children) != 2 {
			t.Fatalf("children %v; want one per run", children)
		}
		waitGone(t, children)
	})
	t.Run("context ends", func(t *testing.T) {
		dir := t.TempDir()
		c := testConfig(t, writeScript(t, dir, "hang.sh", hang), map[string]string{"DIR": dir})
		c.Timeout, c.Tries = config.Duration(time.Minute), 3
		clk, sleeps := fakeClock()
		p := openWith(t, c, clk)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.SetDesired(ctx, 2)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("set desired: %v; want killed, wrapping the context's error", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %s with a context of 300ms", took)
		}
		if runs := len(lines(t, filepath.Join(dir, "runs"))); runs != 1 || len(sleeps) != 0 {
			t.Errorf("%d runs, %d waits; want 1 run: an ended context is not retried", runs, len(sleeps))
		}
		waitGone(t, lines(t, filepath.Join(dir, "children")))
	})
}

// waitGone waits, a few seconds at most, for the processes to be gone:
// SIGKILL has been sent, but reaping by their new parent takes a moment.
func waitGone(t *testing.T, pids []string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range pids {
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("child %d of the killed command still runs: the process group was not killed", pid)
			}
			<-tick.C
		}
	}
}

// TestOutputCapped checks that stdout over 4 MiB fails the call.
func TestOutputCapped(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(t, writeScript(t, dir, "big.sh", `head -c 5000000 /dev/zero | tr '\0' ' '; printf '{"version": 1, "desired": 0}'`), nil)
	clk, _ := fakeClock()
	_, err := openWith(t, c, clk).Observe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "output over 4194304 bytes") {
		t.Fatalf("observe: %v; want the output cap", err)
	}
}

// TestSecrets checks that env secrets reach the command, from each origin,
// and never appear in errors, whether the command prints them on stderr or
// in its output.
func TestSecrets(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("hunter22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EBB_EXEC_TEST_TOKEN", token)
	script := writeScript(t, dir, "auth.sh", `printf '%s %s %s %s\n' "$TOKEN" "$PASSWORD" "$EBB_GROUP" "$EBB_OP" >"$DIR/seen"
case $EBB_OP in
observe) printf '{"version": 1, "desired": 1, "instances": [{"id": "a", "launched_at": "%s"}]}' "$TOKEN" ;;
set_desired) echo "401: token $TOKEN refused (password $PASSWORD)" >&2; exit 1 ;;
esac
`)
	c := testConfig(t, script, map[string]string{"DIR": dir})
	c.Env["TOKEN"] = config.Secret{Env: "EBB_EXEC_TEST_TOKEN"}
	c.Env["PASSWORD"] = config.Secret{File: filepath.Join(dir, "pw")}
	clk, _ := fakeClock()
	p := openWith(t, c, clk)

	err := p.SetDesired(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "401: token [redacted] refused (password [redacted])") {
		t.Fatalf("set desired: %v; want stderr's last line with the secrets blanked", err)
	}
	if got := lines(t, filepath.Join(dir, "seen")); len(got) != 1 || got[0] != token+" hunter22 web set_desired" {
		t.Errorf("the command saw %q; want the secrets, the group and the op", got)
	}
	_, err = p.Observe(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"[redacted]" is not an RFC 3339 time`) {
		t.Fatalf("observe: %v; want the schema error with the secret blanked", err)
	}
	for _, e := range []error{err} {
		if strings.Contains(e.Error(), token) || strings.Contains(e.Error(), "hunter22") {
			t.Errorf("a secret in the error: %v", e)
		}
	}

	// A secret that cannot be read fails the call before any run, naming
	// the variable, not a value.
	c.Env["TOKEN"] = config.Secret{Env: "EBB_EXEC_TEST_UNSET"}
	if err := os.Remove(filepath.Join(dir, "seen")); err != nil {
		t.Fatal(err)
	}
	p = openWith(t, c, clk)
	err = p.SetDesired(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "env TOKEN: environment variable EBB_EXEC_TEST_UNSET is not set") {
		t.Fatalf("set desired: %v; want the unreadable secret named", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "seen")); !errors.Is(serr, os.ErrNotExist) {
		t.Error("the command ran without its secret")
	}
}

// TestEndedContextRunsNothing checks that no command starts once the
// context has ended.
func TestEndedContextRunsNothing(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(t, writeScript(t, dir, "say.sh", say), map[string]string{"DIR": dir})
	clk, _ := fakeClock()
	p := openWith(t, c, clk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, o := range []op{opObserve, opSetDesired, opRemove} {
		if err := callOp(p, ctx, o); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with an ended context: %v; want context.Canceled", o, err)
		}
	}
	if runs := lines(t, filepath.Join(dir, "runs")); len(runs) != 0 {
		t.Errorf("%d runs with an ended context", len(runs))
	}
}
