package cli

import (
	"context"
	"encoding/json"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/demo"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// asEbb makes this test binary act as the ebb command when a test starts it
// as a worker process.
const asEbb = "EBB_TEST_AS_EBB"

func TestMain(m *testing.M) {
	if os.Getenv(asEbb) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	servers.Stop()
	os.Exit(code)
}

// servers are the real servers this package's tests share.
var servers testserver.Pool

// Interrupting the demo (Ctrl-C) stops it early: the workers finish their
// jobs and exit, nothing is lost, nothing is left running.
func TestDemoInterrupted(t *testing.T) {
	demoEnv = map[string]string{asEbb: "1"}
	defer func() { demoEnv = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(12*time.Second, cancel) // what Ctrl-C does
	var out, errb strings.Builder
	code := mainContext(ctx, []string{"demo", "--duration", "60s", "--seed", "4", "--json", "--keep"}, &out, &errb)
	m := regexp.MustCompile(`state and logs in (\S+)`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("no state directory in stderr:\n%s", errb.String())
	}
	defer os.RemoveAll(m[1])
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var s demo.Summary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, out.String())
	}
	if s.Seconds > 40 || s.JobsLost != 0 || s.JobsCompleted+int64(s.JobsPending) != s.JobsSubmitted || s.Launched == 0 {
		t.Fatalf("summary %+v; want an early stop with every job completed or still queued", s)
	}
	assertNothingRuns(t, m[1])
}

// A short demo end to end: real worker processes under the trace; capacity
// rises under load and falls after it; no job is lost; every worker that
// was drained finished its job first; nothing is left running.
func TestDemo(t *testing.T) {
	demoEnv = map[string]string{asEbb: "1"}
	defer func() { demoEnv = nil }()
	var s demo.Summary
	dir, out := runDemoJSON(t, &s, "demo", "--duration", "30s", "--seed", "3", "--json", "--keep")
	for _, key := range []string{"jobs_submitted", "jobs_completed", "jobs_lost", "peak_instances", "min_instances_after_peak", "instance_seconds", "fixed_fleet_instance_seconds"} {
		if !strings.Contains(out, `"`+key+`"`) {
			t.Errorf("summary lacks %s", key)
		}
	}
	if s.JobsSubmitted < 100 || s.JobsCompleted != s.JobsSubmitted || s.JobsLost != 0 || s.JobsPending != 0 {
		t.Fatalf("jobs: %+v; want every submitted job completed, none lost", s)
	}
	if s.PeakInstances < 5 || s.MinInstancesAfterPeak >= s.PeakInstances/2 {
		t.Fatalf("instances peak %d, lowest after %d; want capacity to rise under load and fall after", s.PeakInstances, s.MinInstancesAfterPeak)
	}
	if s.Drained < 1 || s.InstanceSeconds <= 0 || s.FixedFleetInstanceSeconds <= 0 {
		t.Fatalf("drained %d, instance-seconds %v / %v", s.Drained, s.InstanceSeconds, s.FixedFleetInstanceSeconds)
	}

	insts := assertNothingRuns(t, dir)
	drainedLogs := 0
	for _, in := range insts {
		log, err := os.ReadFile(filepath.Join(dir, "logs", "workers", in.ID+".log"))
		if err != nil {
			t.Fatal(err)
		}
		text := string(log)
		if strings.Contains(text, "msg=draining") {
			drainedLogs++
			if !strings.Contains(text, "msg=drained") {
				t.Errorf("%s began draining but did not finish:\n%s", in.ID, text)
			}
		}
		if strings.Contains(text, "taken away") || strings.Contains(text, "level=ERROR") {
			t.Errorf("%s lost or failed a job:\n%s", in.ID, text)
		}
	}
	if drainedLogs < s.Drained {
		t.Fatalf("%d workers logged a drain, the summary says %d were drained", drainedLogs, s.Drained)
	}
}

// assertNothingRuns checks that no instance the demo recorded still runs,
// and returns them.
func assertNothingRuns(t *testing.T, dir string) []model.Instance {
	t.Helper()
	return assertNothingRunsOf(t, dir, "workers")
}

// assertNothingRunsOf is assertNothingRuns for group's instances.
func assertNothingRunsOf(t *testing.T, dir, group string) []model.Instance {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "ebb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var insts []model.Instance
	st.View(func(tx *store.Tx) error { insts, err = tx.Instances(group); return err })
	p, _ := local.New(local.Config{Command: []string{"x"}})
	for _, in := range insts {
		if alive, _ := p.Alive(context.Background(), in); alive {
			t.Errorf("%s still runs after the demo", in.ID)
		}
	}
	return insts
}

// The registry demo end to end: real web instances registered in ebb's
// registry, a client balancing real requests over them from its cached
// registry; capacity rises and falls, and over every scale-in no request
// fails and no try reaches an instance that is gone, because each victim
// was OUT_OF_SERVICE for the clients' refresh before it was stopped.
func TestDemoRegistry(t *testing.T) {
	demoEnv = map[string]string{asEbb: "1"}
	defer func() { demoEnv = nil }()
	var s demo.RegistrySummary
	dir, _ := runDemoJSON(t, &s, "demo", "registry", "--duration", "20s", "--json", "--keep")
	if s.Requests < 500 || s.Failed != 0 || s.RefusedAttempts != 0 {
		t.Fatalf("requests: %+v; want hundreds sent, none failed, no try refused", s)
	}
	if s.PeakInstances < 5 || s.FinalInstances > 2 || s.Drained < 3 {
		t.Fatalf("instances: %+v; want capacity to rise under load, fall after it, by drains", s)
	}
	insts := assertNothingRunsOf(t, dir, "web")
	ebbLog, err := os.ReadFile(filepath.Join(dir, "ebb.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Each drained instance stopped (SIGTERM, after the clients' refresh)
	// at least the refresh after it was taken out of rotation.
	checked := 0
	for _, in := range insts {
		if in.Reason != "exited after draining" {
			continue
		}
		began := logTime(t, string(ebbLog), "instance="+in.ID+" from=in_service to=draining")
		instLog, err := os.ReadFile(filepath.Join(dir, "logs", "web", in.ID+".log"))
		if err != nil {
			t.Fatal(err)
		}
		stopped := logTime(t, string(instLog), "msg=stopped")
		if wait := stopped.Sub(began); wait < 3*time.Second {
			t.Errorf("%s stopped %v after it was taken OUT_OF_SERVICE; want at least the 3s refresh", in.ID, wait)
		}
		// The client refreshes every second: no request reaches the
		// victim later than that (and the request's own time) after it
		// went OUT_OF_SERVICE.
		if m := regexp.MustCompile(`last_request=(\S+)`).FindStringSubmatch(string(instLog)); m != nil && m[1] != "none" {
			last, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: last request %v and stop %v after OUT_OF_SERVICE", in.ID, last.Sub(began).Round(time.Millisecond), stopped.Sub(began).Round(time.Millisecond))
			if after := last.Sub(began); after > 2*time.Second {
				t.Errorf("%s got a request %v after it was taken OUT_OF_SERVICE; clients refresh every 1s", in.ID, after)
			}
		} else if m == nil {
			t.Errorf("%s logged no last_request:\n%s", in.ID, instLog)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("%d drained instances checked", checked)
	}
}

// logTime is the time of the first slog line of text holding what.
func logTime(t *testing.T, text, what string) time.Time {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, what) {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 {
			if ts, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				return ts
			}
		}
	}
	t.Fatalf("no log line with %q", what)
	return time.Time{}
}

// runDemoJSON runs a demo with --json --keep, decodes its summary into
// sum, and returns its state directory (removed when the test ends) and
// its output.
func runDemoJSON(t *testing.T, sum any, args ...string) (dir, out string) {
	t.Helper()
	code, out, errs := run(t, args...)
	m := regexp.MustCompile(`state and logs in (\S+)`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("no state directory in stderr:\n%s", errs)
	}
	dir = m[1]
	t.Cleanup(func() { os.RemoveAll(dir) })
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	t.Logf("summary: %+v", sum)
	return dir, out
}
