package local

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/providertest"
)

// testGrace keeps SIGKILL-after-grace cases short.
const testGrace = 200 * time.Millisecond

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Provider {
		return newTestProvider(t, testGrace)
	})
}

func newTestProvider(t *testing.T, grace time.Duration) *Provider {
	t.Helper()
	p, err := New(Config{
		Command: providertest.Command(),
		Env:     providertest.Env(),
		LogDir:  t.TempDir(),
		Grace:   grace,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// launch launches req with p and SIGKILLs its process group when the test
// ends, if the PID still names it.
func launch(t *testing.T, p *Provider, req provider.LaunchRequest) model.Instance {
	t.Helper()
	inst, err := p.Launch(callCtx(t), req)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() {
		if ok, _ := alive(*inst.Process); ok {
			syscall.Kill(-inst.Process.PID, syscall.SIGKILL)
		}
	})
	return inst
}

func TestParseStat(t *testing.T) {
	// rest is fields 3..22 and a few more, with state R and start time 504702.
	const rest = "R 24992 24992 21842 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 504702 3133440 357\n"
	tests := []struct {
		name    string
		stat    string
		want    procStat
		wantErr string
	}{
		{name: "normal", stat: "24997 (cat) " + rest, want: procStat{State: 'R', StartTime: 504702}},
		{name: "comm with spaces", stat: "7 (my server) " + rest, want: procStat{State: 'R', StartTime: 504702}},
		{name: "comm with parentheses", stat: "7 (a) S 1 (b)) " + rest, want: procStat{State: 'R', StartTime: 504702}},
		{name: "empty comm", stat: "7 () Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42\n", want: procStat{State: 'Z', StartTime: 42}},
		{name: "no parentheses", stat: "7 cat " + rest, wantErr: "no command name"},
		{name: "empty", stat: "", wantErr: "no command name"},
		{name: "too few fields", stat: "7 (cat) R 1 1 1", wantErr: "4 fields after the command name, want at least 20"},
		{name: "bad start time", stat: "7 (cat) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 soon", wantErr: "start time"},
		{name: "bad state", stat: "7 (cat) RS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42", wantErr: "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.stat))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStat(%q) error = %v, want one containing %q", tt.stat, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tt.stat, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStat(%q) (-want +got):\n%s", tt.stat, diff)
			}
		})
	}
}

func TestReadStatSelf(t *testing.T) {
	st, found, err := readStat(os.Getpid())
	if err != nil || !found {
		t.Fatalf("readStat(self) = %+v, %t, %v", st, found, err)
	}
	if !st.running() || st.StartTime == 0 {
		t.Errorf("readStat(self) = %+v, want a running process with a start time", st)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("24997 (cat) R 24992 24992 21842 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 504702 3133440\n"))
	f.Add([]byte("7 (a) S (b)) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStat(data)
		if err != nil {
			return
		}
		// What parsed must be fields 3 and 22, counted from the last ')'.
		fields := bytes.Fields(data[bytes.LastIndexByte(data, ')')+1:])
		start, err := strconv.ParseUint(string(fields[19]), 10, 64)
		if err != nil || fields[0][0] != st.State || start != st.StartTime {
			t.Errorf("parseStat(%q) = %+v, fields after ')' are %q", data, st, fields)
		}
	})
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error
	}{
		{name: "no command", cfg: Config{}, want: []string{"command: required"}},
		{name: "empty program", cfg: Config{Command: []string{""}}, want: []string{"command[0]: must not be empty"}},
		{
			name: "bad syntax",
			cfg:  Config{Command: []string{"server", "--port={{.Port"}},
			want: []string{"template: command[1]:1: unclosed action"},
		},
		{
			name: "unknown field",
			cfg:  Config{Command: []string{"server", "--id={{.ID}}", "--host={{.Host}}"}},
			want: []string{`template: command[2]:1:9: executing "command[2]" at <.Host>: can't evaluate field Host`},
		},
		{
			name: "unknown function",
			cfg:  Config{Command: []string{"server"}, Env: map[string]string{"PORT": "{{port}}"}},
			want: []string{`template: env[PORT]:1: function "port" not defined`},
		},
		{
			name: "bad env name",
			cfg:  Config{Command: []string{"server"}, Env: map[string]string{"A=B": "x", "": "y"}},
			want: []string{"env[]: invalid variable name", "env[A=B]: invalid variable name"},
		},
		{
			name: "negative grace",
			cfg:  Config{Command: []string{"server"}, Grace: -time.Second},
			want: []string{"grace: must not be negative, got -1s"},
		},
		{
			name: "every problem at once",
			cfg:  Config{Command: []string{"{{.Nope}}", "{{"}, Env: map[string]string{"X": "{{.Zone}"}, Grace: -1},
			want: []string{"command[0]", "command[1]", "env[X]", "grace"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want an error", tt.cfg, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	p, err := New(Config{Command: []string{"server", "{{.Addr}}"}, Env: map[string]string{"ZONE": "{{.Zone}}"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if p.grace != DefaultGrace {
		t.Errorf("grace = %s, want %s", p.grace, DefaultGrace)
	}
	if got := p.LogPath(model.Instance{ID: "i-1", Group: "web"}); got != "" {
		t.Errorf("LogPath without LogDir = %q, want \"\"", got)
	}
}

func TestLaunch(t *testing.T) {
	p := newTestProvider(t, testGrace)
	inst := launch(t, p, provider.LaunchRequest{ID: "i-1", Group: "web", Zone: "a"})

	host, _, err := net.SplitHostPort(inst.Addr)
	if err != nil || host != "127.0.0.1" {
		t.Errorf("Addr = %q, want 127.0.0.1:PORT", inst.Addr)
	}
	if want := filepath.Join(p.logDir, "web", "i-1.log"); p.LogPath(inst) != want {
		t.Errorf("LogPath = %q, want %q", p.LogPath(inst), want)
	}

	// Its own session and process group, so it outlives ebb and signals to
	// -PID reach its children: fields 5 (pgrp) and 6 (session) are the PID.
	data, err := os.ReadFile("/proc/" + strconv.Itoa(inst.Process.PID) + "/stat")
	if err != nil {
		t.Fatalf("read stat: %v", err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	pid := strconv.Itoa(inst.Process.PID)
	if fields[2] != pid || fields[3] != pid {
		t.Errorf("pgrp %s, session %s; want both %s", fields[2], fields[3], pid)
	}
}

func TestLaunchAppendsToLog(t *testing.T) {
	p := newTestProvider(t, testGrace)
	req := provider.LaunchRequest{ID: "i-1", Group: "web"}
	path := p.LogPath(model.Instance{ID: req.ID, Group: req.Group})
	for i := range 2 {
		inst := launch(t, p, req)
		waitCount(t, path, "leader: ready", i+1)
		if err := p.Terminate(callCtx(t), inst); err != nil {
			t.Fatalf("Terminate #%d: %v", i+1, err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "args id=i-1"); n != 2 {
		t.Errorf("log holds %d launches, want 2:\n%s", n, data)
	}
}

func TestLaunchFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{
			name:    "command not found",
			cfg:     Config{Command: []string{"ebb-no-such-command-{{.ID}}"}},
			wantErr: `launch web/i-1: exec: "ebb-no-such-command-i-1": executable file not found in $PATH`,
		},
		{
			name:    "no such path",
			cfg:     Config{Command: []string{"/nonexistent/ebb-server"}},
			wantErr: "launch web/i-1: fork/exec /nonexistent/ebb-server: no such file or directory",
		},
		{
			name:    "no such directory",
			cfg:     Config{Command: []string{"/bin/sh", "-c", "exit 0"}, Dir: "/nonexistent"},
			wantErr: "launch web/i-1: working directory: stat /nonexistent: no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.LogDir = t.TempDir()
			p, err := New(tt.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			inst, err := p.Launch(callCtx(t), provider.LaunchRequest{ID: "i-1", Group: "web"})
			if err == nil {
				t.Cleanup(func() { syscall.Kill(-inst.Process.PID, syscall.SIGKILL) })
				t.Fatalf("Launch = %+v, want an error", inst)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Launch error = %q, want %q", err, tt.wantErr)
			}
			path := p.LogPath(model.Instance{ID: "i-1", Group: "web"})
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("log file %s left behind: %v", path, err)
			}
		})
	}
}

func TestLaunchRejectsBadNames(t *testing.T) {
	p := newTestProvider(t, testGrace)
	for _, req := range []provider.LaunchRequest{
		{ID: "", Group: "web"},
		{ID: "i-1", Group: ""},
		{ID: "../i-1", Group: "web"},
		{ID: "i-1", Group: ".."},
		{ID: ".", Group: "web"},
	} {
		if inst, err := p.Launch(callCtx(t), req); err == nil {
			syscall.Kill(-inst.Process.PID, syscall.SIGKILL)
			t.Errorf("Launch(%+v) succeeded, want an error", req)
		}
	}
}

// TestRefusesBadProcess makes sure no call turns a missing or bad PID into
// kill(0) (ebb's own group) or kill(-1) (every process).
func TestRefusesBadProcess(t *testing.T) {
	p := newTestProvider(t, testGrace)
	for _, proc := range []*model.Process{nil, {PID: 0}, {PID: 1}, {PID: -1}, {PID: -os.Getpid()}} {
		inst := model.Instance{ID: "i-1", Group: "web", Process: proc}
		if _, err := p.Alive(callCtx(t), inst); err == nil {
			t.Errorf("Alive(%+v) succeeded, want an error", proc)
		}
		if err := p.Signal(callCtx(t), inst, syscall.SIGUSR1); err == nil || errors.Is(err, provider.ErrGone) {
			t.Errorf("Signal(%+v) = %v, want an error other than ErrGone", proc, err)
		}
		if err := p.Terminate(callCtx(t), inst); err == nil {
			t.Errorf("Terminate(%+v) succeeded, want an error", proc)
		}
	}
}

// TestTerminateWaitsForGrace shows that Terminate does not SIGKILL before
// Grace, and that it gives up when ctx ends first.
func TestTerminateWaitsForGrace(t *testing.T) {
	patient := newTestProvider(t, time.Hour)
	inst := launch(t, patient, provider.LaunchRequest{ID: "i-1", Group: providertest.StubbornGroup})
	waitCount(t, patient.LogPath(inst), "child: ready", 1)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := patient.Terminate(ctx, inst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Terminate = %v, want context.DeadlineExceeded", err)
	}
	if ok, err := patient.Alive(callCtx(t), inst); !ok || err != nil {
		t.Fatalf("Alive after SIGTERM within grace = %t, %v; want true", ok, err)
	}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := patient.Terminate(canceled, inst); !errors.Is(err, context.Canceled) {
		t.Errorf("Terminate with a canceled ctx = %v, want context.Canceled", err)
	}

	// A provider with a short grace (a restarted ebb) finishes the job.
	if err := newTestProvider(t, testGrace).Terminate(callCtx(t), inst); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if ok, err := patient.Alive(callCtx(t), inst); ok || err != nil {
		t.Errorf("Alive after Terminate = %t, %v; want false", ok, err)
	}
}

// waitCount polls path until line appears n times, for at most 10 s.
func waitCount(t *testing.T, path, line string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), line+"\n") >= n {
			return
		}
		if err := (clock.Real{}).Sleep(ctx, 20*time.Millisecond); err != nil {
			t.Fatalf("%s does not show %q %d times; it holds:\n%s", path, line, n, data)
		}
	}
}

// A restarted ebb finds a process whose launch it never recorded, by the
// marker in its environment; a fresh provider value stands for the new ebb.
func TestFindAdoptsAnUnrecordedLaunch(t *testing.T) {
	p := newTestProvider(t, testGrace)
	inst := launch(t, p, provider.LaunchRequest{ID: "i-lost", Group: "web", Zone: "a"})
	fresh := newTestProvider(t, testGrace)
	got, ok, err := fresh.Find(callCtx(t), "web", "i-lost")
	if err != nil || !ok {
		t.Fatalf("Find = %v, %v", ok, err)
	}
	if *got.Process != *inst.Process || got.Addr != inst.Addr {
		t.Fatalf("Find = %+v (process %+v), want process %+v at %s", got, *got.Process, *inst.Process, inst.Addr)
	}
	if _, ok, err := fresh.Find(callCtx(t), "web", "i-other"); ok || err != nil {
		t.Fatalf("Find(i-other) = %v, %v; want not found", ok, err)
	}
	// A prefix of another ID does not match.
	if _, ok, _ := fresh.Find(callCtx(t), "web", "i-los"); ok {
		t.Fatal("Find matched a prefix of the ID")
	}
	// List sees it (once: its children carry the marker too, but only
	// the session leader is the instance).
	all, err := fresh.List(callCtx(t), "web")
	if err != nil || len(all) != 1 || all[0].ID != "i-lost" || *all[0].Process != *inst.Process {
		t.Fatalf("List = %+v, %v; want just i-lost", all, err)
	}
	if err := fresh.Terminate(callCtx(t), got); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := fresh.Find(callCtx(t), "web", "i-lost"); ok {
		t.Fatal("Find found a terminated process")
	}
}

// Two ebbs on one machine with a group of the same name never see each
// other's instances: each finds and lists only those of its own owner (its
// state); a provider with no owner, as an orphan check uses, sees them all.
func TestOwnersSeeOnlyTheirInstances(t *testing.T) {
	owned := func(owner string) *Provider {
		p, err := New(Config{Command: providertest.Command(), Env: providertest.Env(), LogDir: t.TempDir(), Grace: testGrace, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := owned("/srv/a/ebb.db"), owned("/srv/b/ebb.db")
	ia := launch(t, a, provider.LaunchRequest{ID: "i-a", Group: "web"})
	ib := launch(t, b, provider.LaunchRequest{ID: "i-b", Group: "web"})
	defer a.Terminate(callCtx(t), ia)
	defer b.Terminate(callCtx(t), ib)
	for _, c := range []struct {
		p    *Provider
		want []string
	}{{a, []string{"i-a"}}, {b, []string{"i-b"}}, {newTestProvider(t, testGrace), []string{"i-a", "i-b"}}} {
		all, err := c.p.List(callCtx(t), "web")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range all {
			got = append(got, in.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("owner %q lists %v, want %v", c.p.owner, got, c.want)
		}
	}
	if _, ok, err := a.Find(callCtx(t), "web", "i-b"); ok || err != nil {
		t.Errorf("owner a found b's instance: %v %v", ok, err)
	}
	if _, ok, err := b.Find(callCtx(t), "web", "i-b"); !ok || err != nil {
		t.Errorf("owner b did not find its instance: %v %v", ok, err)
	}
}

// An instance gets a short allowlist of ebb's environment, the markers and
// its configured variables: never ebb's secrets, which any process of the
// same user could read in /proc/PID/environ.
func TestLaunchEnvironmentIsClean(t *testing.T) {
	t.Setenv("EBB_TOKEN", "s3cret")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cret")
	t.Setenv("LC_TIME", "C")
	p, err := New(Config{
		Command: providertest.Command(),
		Env:     map[string]string{"APP_PORT": "{{.Port}}", "HOME": "/srv/app"},
		LogDir:  t.TempDir(),
		Grace:   testGrace,
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := launch(t, p, provider.LaunchRequest{ID: "i-1", Group: "web"})
	data, err := os.ReadFile("/proc/" + strconv.Itoa(inst.Process.PID) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(data), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v // the last one wins, as for getenv in the instance
	}
	for _, k := range []string{"EBB_TOKEN", "AWS_SECRET_ACCESS_KEY"} {
		if v, ok := env[k]; ok {
			t.Errorf("instance environment holds %s=%s", k, v)
		}
	}
	_, port, _ := net.SplitHostPort(inst.Addr)
	for k, want := range map[string]string{
		"PATH":         os.Getenv("PATH"),
		"LC_TIME":      "C",
		"APP_PORT":     port,
		"HOME":         "/srv/app",
		"EBB_INSTANCE": "web/i-1",
		"EBB_ADDR":     inst.Addr,
	} {
		if env[k] != want {
			t.Errorf("%s=%q in the instance, want %q", k, env[k], want)
		}
	}
	for k := range env {
		if !slices.Contains(Inherited, k) && !strings.HasPrefix(k, "LC_") && !slices.Contains([]string{"APP_PORT", "EBB_INSTANCE", "EBB_ADDR", "PWD", "SHLVL", "_"}, k) {
			t.Errorf("instance environment holds %s, which is neither inherited nor configured", k)
		}
	}
}
