package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

func conn() *Conn {
	return &Conn{Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
}

func openSource(t *testing.T, c *Conn) *source.Source {
	t.Helper()
	src, err := Kind().Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func read(t *testing.T, src *source.Source, q *Query, groups ...string) []source.Value {
	t.Helper()
	reqs := make([]source.Request, len(groups))
	for i, g := range groups {
		reqs[i] = source.Request{Group: g, Query: q}
	}
	return src.Read(context.Background(), reqs)
}

// runs counts the lines a command appended to f: one per run.
func runs(t *testing.T, f string) int {
	t.Helper()
	b, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func write(t *testing.T, f, s string) {
	t.Helper()
	if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNumberFollowsOutput(t *testing.T) {
	dir := t.TempDir()
	c := conn()
	c.Dir = dir
	src := openSource(t, c)
	q := &Query{Command: []string{"sh", "-c", "cat value"}}
	for _, want := range []float64{3, 7.5, 0} {
		write(t, filepath.Join(dir, "value"), fmt.Sprintf(" %v\n", want))
		v := read(t, src, q, "g1")[0]
		if v.Err != nil || v.V != want {
			t.Fatalf("value = %v, %v; want %v", v.V, v.Err, want)
		}
	}
}

func TestJSONAnswersManyGroupsWithOneRun(t *testing.T) {
	dir := t.TempDir()
	count, doc := filepath.Join(dir, "count"), filepath.Join(dir, "doc.json")
	c := conn()
	src := openSource(t, c)
	q := &Query{Command: []string{"sh", "-c", `echo run >> "$0"; cat "$1"`, count, doc}, Path: "queues.{{.Group}}.ready"}
	groups := make([]string, 100)
	var b strings.Builder
	b.WriteString(`{"queues": {`)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%d", i)
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"g%d": {"ready": %d}`, i, i)
	}
	b.WriteString(`}}`)
	write(t, doc, b.String())

	vals := read(t, src, q, append(groups, "missing")...)
	for i := range groups {
		if vals[i].Err != nil || vals[i].V != float64(i) {
			t.Fatalf("%s = %v, %v; want %d", groups[i], vals[i].V, vals[i].Err, i)
		}
	}
	if err := vals[100].Err; !errors.Is(err, source.ErrNoValue) || !strings.Contains(err.Error(), `queues.missing.ready`) {
		t.Fatalf("missing group: err = %v, want no value naming the path", err)
	}
	if n := runs(t, count); n != 1 {
		t.Fatalf("command ran %d times for 101 groups, want 1", n)
	}

	// The document changes; the next tick sees it, again with one run.
	write(t, doc, `{"queues": {"g1": {"ready": 40}}}`)
	vals = read(t, src, q, "g1", "g2")
	if vals[0].V != 40 || vals[0].Err != nil || !errors.Is(vals[1].Err, source.ErrNoValue) {
		t.Fatalf("after change: %+v", vals)
	}
	if n := runs(t, count); n != 2 {
		t.Fatalf("command ran %d times in two ticks, want 2", n)
	}
}

func TestCommandTemplateRunsPerGroup(t *testing.T) {
	src := openSource(t, conn())
	q := &Query{Command: []string{"sh", "-c", "printf %s \"$0\"", "{{.Group}}"}}
	got := read(t, src, q, "1", "2", "1")
	if diff := cmp.Diff([]float64{1, 2, 1}, []float64{got[0].V, got[1].V, got[2].V}); diff != "" {
		t.Fatal(diff)
	}
}

func TestEnvSecrets(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "token"), "41\n")
	c := conn()
	c.Env = map[string]config.Secret{"FROM_FILE": {File: filepath.Join(dir, "token")}, "INLINE": {Value: "1"}}
	src := openSource(t, c)
	v := read(t, src, &Query{Command: []string{"sh", "-c", "echo $((FROM_FILE + INLINE))"}}, "g")[0]
	if v.Err != nil || v.V != 42 {
		t.Fatalf("= %v, %v; want 42", v.V, v.Err)
	}

	c.Env = map[string]config.Secret{"GONE": {Env: "EBB_TEST_UNSET_VARIABLE"}}
	v = read(t, openSource(t, c), &Query{Command: []string{"true"}}, "g")[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "env GONE") {
		t.Fatalf("err = %v, want env GONE", v.Err)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		tries   int
		wantErr string
		runs    int
	}{
		{name: "exit 1 is not retried", script: `echo run >> "$0"; echo first >&2; echo "queue jobs not found" >&2; exit 1`,
			tries: 3, wantErr: "run sh: exit status 1: queue jobs not found", runs: 1},
		{name: "exit 75 is retried", script: `echo run >> "$0"; echo busy >&2; exit 75`,
			tries: 3, wantErr: "run sh: exit status 75: busy", runs: 3},
		{name: "not a number", script: `echo run >> "$0"; echo hello`,
			tries: 3, wantErr: `output of sh is "hello", not a finite number`, runs: 1},
		{name: "NaN", script: `echo run >> "$0"; echo NaN`, tries: 3, wantErr: "not a finite number", runs: 1},
		{name: "output too long", script: `echo run >> "$0"; head -c 2000000 /dev/zero`,
			tries: 2, wantErr: "output over 1048576 bytes", runs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count := filepath.Join(t.TempDir(), "count")
			c := conn()
			c.Tries = tt.tries
			src := openSource(t, c)
			v := read(t, src, &Query{Command: []string{"sh", "-c", tt.script, count}}, "g")[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if n := runs(t, count); n != tt.runs {
				t.Fatalf("ran %d times, want %d", n, tt.runs)
			}
		})
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	count, pid := filepath.Join(dir, "count"), filepath.Join(dir, "pid")
	c := conn()
	c.Timeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c)
	// The shell's child sleeps; killing only the shell would leave it.
	q := &Query{Command: []string{"sh", "-c", `echo run >> "$0"; sleep 30 & echo $! > "$1"; wait`, count, pid}}
	start := time.Now()
	v := read(t, src, q, "g")[0]
	took := time.Since(start)
	if v.Err == nil || !strings.Contains(v.Err.Error(), "run sh: killed: context deadline exceeded") {
		t.Fatalf("err = %v, want killed", v.Err)
	}
	// Two tries of 200ms and one backoff of at most 200ms.
	if took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	if n := runs(t, count); n != 2 {
		t.Fatalf("ran %d times, want 2 (tries)", n)
	}
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	// SIGKILL lands a moment after Wait returns: give the kernel up to 2s.
	stat := "/proc/" + strings.TrimSpace(string(b)) + "/stat"
	_, err = backoff.Retry(context.Background(), func() (struct{}, error) {
		st, err := os.ReadFile(stat)
		if err != nil || strings.Contains(string(st), ") Z ") {
			return struct{}{}, nil // gone, or dead and not yet reaped
		}
		return struct{}{}, fmt.Errorf("sleep %s outlived the timeout: %s", strings.TrimSpace(string(b)), st)
	}, backoff.WithBackOff(backoff.NewConstantBackOff(10*time.Millisecond)), backoff.WithMaxElapsedTime(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h := src.Health()
	if !h.Failing || h.Calls != 2 || h.Failures != 2 || !strings.Contains(h.LastError, "killed") {
		t.Fatalf("health = %+v", h)
	}

	// A quick command afterwards heals it.
	v = read(t, src, &Query{Command: []string{"echo", "1"}}, "g")[0]
	if v.Err != nil || src.Health().Failing {
		t.Fatalf("after: %v, %+v", v.Err, src.Health())
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want []string
	}{
		{name: "good query", v: &Query{Command: []string{"jobs", "{{.Group}}"}, Path: "{{.Group}}.ready"}},
		{name: "no command", v: &Query{}, want: []string{"command: required: the program and its arguments"}},
		{name: "bad templates", v: &Query{Command: []string{"jobs", "{{.Nope}}"}, Path: "{{"},
			want: []string{"command[1]: invalid template", "path: invalid template"}},
		{name: "instance field", v: &Query{Command: []string{"jobs", "{{.Addr}}"}, Path: "x"},
			want: []string{"command[1]: may use only {{.Group}}"}},
		{name: "bad path", v: &Query{Command: []string{"jobs"}, Path: "a..b"}, want: []string{"path: "}},
		{name: "selector path", v: &Query{Command: []string{"jobs"}, Path: "queues[name={{.Group}}].ready"}},
		{name: "good conn", v: conn()},
		{name: "bad conn", v: &Conn{Env: map[string]config.Secret{"A": {}, "B=C": {Value: "x"}}},
			want: []string{"timeout: must be > 0", "tries: must be 1 to 10", "concurrency: must be 1 to 256",
				"env.A: exactly one of value, env and file, not 0", `env: "B=C" is not a variable name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			var ke *config.KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("err %T is not a config problem", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant %q", err, w)
				}
			}
		})
	}
}
