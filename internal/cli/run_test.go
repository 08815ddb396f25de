package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// instanceScript is a stand-in instance: it serves nothing, finishes on
// SIGUSR1 (after logging it), and exits by itself after a minute so no test
// can leak it.
const instanceScript = `trap 'echo drained; exit 0' USR1; trap 'echo terminated; exit 0' TERM; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`

func runConfig(dir string) string {
	return fmt.Sprintf(`store: {path: %s/ebb.db}
api: {listen: "127.0.0.1:0"}
groups:
  - name: web
    capacity: {min: 0, max: 5}
    interval: 1s
    signals: {want: {stale: 1h}}
    policies: [{queue: {signal: want, per_instance: 1}}]
    behavior: {up: {limits: []}, down: {window: 0s, limits: []}}
    provider:
      local: {command: [/bin/sh, -c, %q], log_dir: %s/logs, grace: 2s}
    lifecycle:
      drain: {signal: SIGUSR1, heartbeat: 1s}
`, dir, instanceScript, dir)
}

// daemonUnderTest runs ebb run in-process until stopped.
type daemonUnderTest struct {
	c    *client.Client
	stop func()
}

func startDaemon(t *testing.T, path, token string) *daemonUnderTest {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		opt := daemon.Options{ConfigPath: path, Token: token, Log: slog.New(slog.DiscardHandler), ReloadEvery: 200 * time.Millisecond}
		if err := serve(ctx, opt, func(_ *daemon.Daemon, a string) { addr <- a }); err != nil {
			t.Errorf("serve: %v", err)
			addr <- ""
		}
	}()
	a := <-addr
	if a == "" {
		t.FailNow()
	}
	d := &daemonUnderTest{c: client.New("http://"+a, token), stop: func() { cancel(); wg.Wait() }}
	return d
}

// eventually polls cond every 50 ms until it holds or the deadline passes:
// these tests run real processes on a real clock.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		<-tick.C
	}
}

func inService(t *testing.T, c *client.Client) []model.Instance {
	var insts []model.Instance
	if err := c.Instances(context.Background(), "web", false, &insts); err != nil {
		t.Fatal(err)
	}
	var out []model.Instance
	for _, in := range insts {
		if in.State == model.InService {
			out = append(out, in)
		}
	}
	return out
}

func TestRunScalesDrainsAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(runConfig(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, "secret")
	defer func() { d.stop() }()
	ctx := context.Background()

	// Mutations need the token.
	anon := client.New(d.c.Base, "")
	if err := anon.Push(ctx, "web", time.Time{}, map[string]float64{"want": 3}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push without a token: %v, want 401", err)
	}
	if err := d.c.Push(ctx, "web", time.Time{}, map[string]float64{"nope": 3}); err == nil || !strings.Contains(err.Error(), `signal nope: no such signal`) {
		t.Fatalf("push of an unknown signal: %v", err)
	}
	if err := d.c.Push(ctx, "web", time.Time{}, map[string]float64{"want": 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "3 instances in service", func() bool { return len(inService(t, d.c)) == 3 })

	// A bad config file is rejected and the running config kept.
	good, _ := os.ReadFile(path)
	os.WriteFile(path, []byte("groups: [{name: web}]\n"), 0o644)
	var metrics string
	eventually(t, 10*time.Second, "the bad reload to be rejected", func() bool {
		metrics = fetchMetrics(t, d.c.Base)
		return strings.Contains(metrics, `ebb_config_reloads_total{result="rejected"} 1`)
	})
	os.WriteFile(path, good, 0o644)

	// Stop ebb (as SIGTERM would): instances keep running; a new ebb
	// adopts them instead of launching more.
	before := inService(t, d.c)
	d.stop()
	for _, in := range before {
		if !processAlive(in.Process.PID) {
			t.Fatalf("instance %s died with ebb", in.ID)
		}
	}
	d = startDaemon(t, path, "secret")
	eventually(t, 10*time.Second, "the new ebb to report 3 in service", func() bool { return len(inService(t, d.c)) == 3 })
	var all []model.Instance
	d.c.Instances(ctx, "web", true, &all)
	if len(all) != 3 {
		t.Fatalf("%d instances recorded after the restart, want the same 3", len(all))
	}

	// Scale in: two are drained (SIGUSR1: they log and exit) and recorded gone.
	if err := d.c.Push(ctx, "web", time.Time{}, map[string]float64{"want": 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "1 instance left", func() bool { return len(inService(t, d.c)) == 1 && countState(t, d.c, model.Draining) == 0 })
	d.c.Instances(ctx, "web", true, &all)
	drained := 0
	for _, in := range all {
		if in.State == model.Terminated {
			drained++
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "web", in.ID+".log"))
			if !strings.Contains(string(log), "drained") || strings.Contains(string(log), "terminated") {
				t.Errorf("%s: log %q, want it drained, not terminated", in.ID, log)
			}
		}
	}
	if drained != 2 {
		t.Fatalf("%d drained, want 2", drained)
	}
	var explain string
	if err := d.c.Explain(ctx, "web", &explain); err != nil || !strings.Contains(explain, "web at ") {
		t.Fatalf("explain: %v\n%s", err, explain)
	}
	// The command line against the same daemon.
	api := []string{"--api", d.c.Base}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"status"}, want: "web    0    5    1        1"},
		{args: []string{"instances", "web"}, want: "in_service"},
		{args: []string{"activities", "web", "--limit", "5"}, want: "asked to finish: SIGUSR1"},
		{args: []string{"explain", "web"}, want: "queue(want)"},
		{args: []string{"suspend", "web", "launch", "--token", "secret"}, want: "web: suspended: launch"},
		{args: []string{"resume", "web", "--token", "secret"}, want: "web: suspended: -"},
		{args: []string{"scale", "web", "--desired", "9", "--token", "secret"}, want: "web: desired 5"},
	} {
		code, out, errs := run(t, append(tc.args, api...)...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("ebb %s: exit %d, want %q in\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errs)
		}
	}
	if code, _, errs := run(t, append([]string{"scale", "web", "--desired", "2"}, api...)...); code == 0 || !strings.Contains(errs, "401") {
		t.Errorf("scale without a token: exit %d: %s", code, errs)
	}
	// Leave nothing running.
	if err := d.c.Scale(ctx, "web", 0, nil); err != nil {
		t.Fatal(err)
	}
	d.c.Push(ctx, "web", time.Time{}, map[string]float64{"want": 0})
	eventually(t, 20*time.Second, "no instance left", func() bool { return len(inService(t, d.c)) == 0 && countState(t, d.c, model.Draining) == 0 })
}

func countState(t *testing.T, c *client.Client, s model.InstanceState) int {
	var insts []model.Instance
	c.Instances(context.Background(), "web", false, &insts)
	n := 0
	for _, in := range insts {
		if in.State == s {
			n++
		}
	}
	return n
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func fetchMetrics(t *testing.T, base string) string {
	var out string
	c := client.New(base, "")
	if err := c.Raw(context.Background(), "/metrics", &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A launch command that keeps failing shows as a condition on the group,
// and the retries back off instead of storming.
func TestFailingLaunchShowsAsCondition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ebb.yaml")
	cfg := strings.Replace(runConfig(dir), fmt.Sprintf("%q", instanceScript), `"exit 3"`, 1)
	cfg = strings.Replace(cfg, "capacity: {min: 0, max: 5}", "capacity: {min: 2, max: 5}", 1)
	cfg = strings.Replace(cfg, "drain: {signal: SIGUSR1, heartbeat: 1s}", "drain: {signal: SIGUSR1, heartbeat: 1s}\n      launch: {backoff: {initial: 5s, max: 1m}}", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, "secret")
	defer d.stop()
	var out string
	eventually(t, 20*time.Second, "a condition in ebb status", func() bool {
		_, out, _ = run(t, "status", "--api", d.c.Base)
		return strings.Contains(out, "web: ") && strings.Contains(out, "launches failed in a row")
	})
	var all []model.Instance
	d.c.Instances(context.Background(), "web", true, &all)
	if len(all) > 4 {
		t.Fatalf("%d launches within seconds of failing ones: a storm, not a backoff", len(all))
	}
}
