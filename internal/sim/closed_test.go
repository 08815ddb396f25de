package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	simprov "github.com/ebb-autoscaler/ebb/internal/provider/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// workers is a queue-worker group sized by its backlog, drained on
// scale-in (the simulated system waits for each victim's jobs).
const workers = `
groups:
  - name: workers
    capacity: {min: 2, max: 30}
    interval: 15s
    signals: {backlog: {stale: 1m}}
    policies: [{queue: {signal: backlog, per_instance: 4}}]
    behavior: {down: {window: 2m}}
    lifecycle: {launch: {boot: 60s}, drain: {timeout: 30m}}
`

func closedRun(t *testing.T, seed uint64, infra simprov.Infra) (*Outcome, *config.File) {
	t.Helper()
	return closedRunOf(t, workers, seed, infra)
}

// closedRunOf is closedRun with the group's config given.
func closedRunOf(t *testing.T, group string, seed uint64, infra simprov.Infra) (*Outcome, *config.File) {
	t.Helper()
	cfg, err := config.Parse("workers.yaml", []byte(group))
	if err != nil {
		t.Fatal(err)
	}
	// Two hours: 0.5 jobs/s, then 12 jobs/s for an hour from minute 30,
	// then 0.5 again.
	g := trace.Grid{Step: time.Second, Duration: 2 * time.Hour}
	tr, err := trace.Spike(g, 0.5, 24, 30*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m, err := workload.NewQueue(workload.QueueConfig{
		Service:   workload.Durations{Dist: "exponential", Mean: config.Duration(5 * time.Second)},
		PerWorker: 4, MaxWait: config.Duration(time.Minute), Arrivals: "poisson", Batches: 16, Tail: 0.01,
	}, seed)
	if err != nil {
		t.Fatal(err)
	}
	out, err := RunClosed(cfg, "workers", tr, m, ClosedOptions{Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Seed: seed, Infra: infra, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return out, cfg
}

// The closed loop: ebb's engine and fleet reconciler scale the simulated
// workers out on the surge and back in after it, draining every victim:
// no job is lost, every job is accounted for, supply stays within the
// group's bounds, and the same seed gives the same run.
func TestClosedLoopQueue(t *testing.T) {
	out, _ := closedRun(t, 7, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05, Throttle: 0.05})
	w := out.Work
	if w.Lost != 0 {
		t.Errorf("lost %v jobs; a scale-in must drain", w.Lost)
	}
	if d := w.Submitted - (w.Completed + w.InFlight + w.Queued + w.Lost); d*d > 1e-12 {
		t.Errorf("work not conserved: %+v", w)
	}
	peak := slices.Max(out.Ready.V)
	if peak <= 2 || peak > 30 {
		t.Errorf("ready peaked at %v; want a scale-out within max 30", peak)
	}
	for i, v := range out.Ready.V {
		if v > 30 {
			t.Fatalf("step %d: %v ready, above max 30", i, v)
		}
	}
	if end := out.Ready.V[len(out.Ready.V)-1]; end > 4 {
		t.Errorf("%v ready at the end, long after the surge; want it scaled back in", end)
	}
	if out.Actions < 2 || out.Launches <= 2 {
		t.Errorf("%d actions, %d launches; want scale-out and scale-in", out.Actions, out.Launches)
	}
	if out.Failures == 0 || out.Throttled == 0 {
		t.Errorf("%d failed launches, %d throttled calls at 5%% each: the infrastructure faults did not happen", out.Failures, out.Throttled)
	}
	r, err := out.Measures("ebb")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.SLOViolationFraction > 0.1 {
		t.Errorf("SLO violated %.1f%% of the time", 100*r.SLOViolationFraction)
	}

	again, _ := closedRun(t, 7, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05, Throttle: 0.05})
	if !slices.Equal(out.Ready.V, again.Ready.V) || !slices.Equal(out.Running.V, again.Running.V) || out.Work != again.Work {
		t.Error("two runs with the same seed differ")
	}
}

// A signal the group reads that the workload does not report is an error
// naming what it does report.
func TestClosedLoopUnknownSignal(t *testing.T) {
	cfg, err := config.Parse("w.yaml", []byte(strings.Replace(workers, "backlog", "lag", -1)))
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := trace.Constant(trace.Grid{Step: time.Second, Duration: time.Minute}, 1)
	m, _ := workload.NewQueue(workload.QueueConfig{Service: workload.Durations{Dist: "fixed", Mean: config.Duration(time.Second)},
		PerWorker: 1, MaxWait: config.Duration(time.Minute), Arrivals: "even", Batches: 1, Tail: 0.01}, 1)
	_, err = RunClosed(cfg, "workers", tr, m, ClosedOptions{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "reads lag, which the workload does not report; it reports age_s, arrival_rate, backlog") {
		t.Fatalf("err = %v", err)
	}
}

// Several groups run at once share an engine, each with its own system and
// workload: the first runs exactly as it would alone, the others on
// systems of their own seeds.
func TestClosedLoopGroups(t *testing.T) {
	cfg, names, err := manyWorkers(3)
	if err != nil {
		t.Fatal(err)
	}
	g := trace.Grid{Step: 15 * time.Second, Duration: 6 * time.Hour}
	traces, err := phased(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	opt := ClosedOptions{Start: closedStart, Step: g.Step, Seed: 9, Infra: faulty}
	runs := func(n int) []GroupRun { return queueRuns(t, names[:n], traces[:n]) }
	opt.Dir = t.TempDir()
	all, err := RunClosedGroups(cfg, runs(3), opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Dir = t.TempDir()
	alone, err := RunClosedGroups(cfg, runs(1), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d outcomes for 3 groups", len(all))
	}
	if a, b := digest(all[0]), digest(alone[0]); a != b {
		t.Errorf("the first group ran differently beside others (%s) than alone (%s)", a, b)
	}
	for i, o := range all {
		if o.Launches <= 2 || o.Actions < 2 {
			t.Errorf("group %d: %d launches, %d actions; want it scaled out and in", i, o.Launches, o.Actions)
		}
		if o.Work.Lost != 0 {
			t.Errorf("group %d lost %v jobs", i, o.Work.Lost)
		}
	}
	if digest(all[1]) == digest(all[2]) {
		t.Error("two groups on different traces and seeds ran alike")
	}
}

// However a run's groups are split among workers, each group runs step for
// step as it does on one, budgets included: the shards share nothing but
// the engine, which settles every step's decisions as one.
func TestClosedLoopWorkersDecideAlike(t *testing.T) {
	cfg, names, err := manyWorkers(5)
	if err != nil {
		t.Fatal(err)
	}
	// A budget the five outgrow at their peaks, so it caps scale-outs
	// across the shards.
	cfg.Budgets = []config.Budget{{Name: "all", Max: 40, Groups: map[string]float64{}}}
	for _, n := range names {
		cfg.Budgets[0].Groups[n] = 1
	}
	g := trace.Grid{Step: 15 * time.Second, Duration: 6 * time.Hour}
	traces, err := phased(g, len(names))
	if err != nil {
		t.Fatal(err)
	}
	run := func(workers int) []string {
		runs := queueRuns(t, names, traces)
		outs, err := RunClosedGroups(cfg, runs, ClosedOptions{Start: closedStart, Step: g.Step, Seed: 9, Infra: faulty, Workers: workers, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ds := make([]string, len(outs))
		for i, o := range outs {
			ds[i] = digest(o)
		}
		return ds
	}
	check := func(what string) []string {
		one := run(1)
		if len(slices.Compact(slices.Sorted(slices.Values(one)))) != len(one) {
			t.Fatalf("%s: two of five groups ran alike: %v", what, one)
		}
		for _, w := range []int{2, 3, 5, 8} {
			if got := run(w); !slices.Equal(got, one) {
				t.Errorf("%s, %d workers: digests %v, one worker %v", what, w, got, one)
			}
		}
		return one
	}
	budgeted := check("with a budget")
	cfg.Budgets = nil
	if free := check("without budgets"); slices.Equal(free, budgeted) {
		t.Error("the budget changed no group's run: the test does not cover budgets across shards")
	}
}

// The progress of a run on several workers is their mean: reported by
// each worker as its own, it would go back and forth; as their mean it
// only grows, to the end.
func TestClosedLoopWorkersProgress(t *testing.T) {
	cfg, names, err := manyWorkers(4)
	if err != nil {
		t.Fatal(err)
	}
	g := trace.Grid{Step: 15 * time.Second, Duration: time.Hour}
	traces, err := phased(g, len(names))
	if err != nil {
		t.Fatal(err)
	}
	runs := queueRuns(t, names, traces)
	var seen []float64
	_, err = RunClosedGroups(cfg, runs, ClosedOptions{Start: closedStart, Step: g.Step, Workers: 2, Dir: t.TempDir(),
		Progress: func(f float64) { seen = append(seen, f) }}) // called under the run's lock
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 100 || !slices.IsSorted(seen) || seen[len(seen)-1] < 0.98 || seen[len(seen)-1] > 1 {
		t.Errorf("%d progress reports, sorted %v, the last %v; want them growing to the end", len(seen), slices.IsSorted(seen), seen[len(seen)-1])
	}
}

// A group that fails on one worker ends the whole run with its error,
// whichever worker it ran on: the others stop rather than run on.
func TestClosedLoopWorkerFailureEndsTheRun(t *testing.T) {
	cfg, names, err := manyWorkers(4)
	if err != nil {
		t.Fatal(err)
	}
	bad := &cfg.Groups[3] // the last group, on the last worker
	bad.Signals = map[string]config.Signal{"lag": bad.Signals["backlog"]}
	bad.Policies[0].Queue.Signal = "lag"
	g := trace.Grid{Step: 15 * time.Second, Duration: 6 * time.Hour}
	traces, err := phased(g, len(names))
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2, 4} {
		runs := queueRuns(t, names, traces)
		_, err = RunClosedGroups(cfg, runs, ClosedOptions{Start: closedStart, Step: g.Step, Workers: workers, Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "group w0003 reads lag, which the workload does not report") {
			t.Errorf("%d workers: err = %v; want w0003's", workers, err)
		}
	}
}

// A run's groups are checked before anything runs.
func TestClosedLoopGroupsInvalid(t *testing.T) {
	cfg, names, err := manyWorkers(2)
	if err != nil {
		t.Fatal(err)
	}
	short, _ := trace.Constant(trace.Grid{Step: time.Second, Duration: time.Minute}, 1)
	long, _ := trace.Constant(trace.Grid{Step: time.Second, Duration: time.Hour}, 1)
	m, _ := queueModel(1)
	m2, _ := queueModel(2)
	for _, tc := range []struct {
		name string
		runs []GroupRun
		want string
	}{
		{"none", nil, "no group to run"},
		{"unknown", []GroupRun{{"nope", short, m}}, `no group "nope" in the config`},
		{"twice", []GroupRun{{names[0], short, m}, {names[0], short, m}}, `group "w0000" is run twice`},
		{"one model", []GroupRun{{names[0], short, m}, {names[1], short, m}}, "groups w0000 and w0001 have the same workload model"},
		{"lengths", []GroupRun{{names[0], short, m}, {names[1], long, m2}}, "the trace of group w0001 lasts 1h0m0s, that of w0000 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RunClosedGroups(cfg, tc.runs, ClosedOptions{Dir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// A system that refuses most calls refuses the first too: the run asks
// again until the group's initial instances are adopted, and goes on.
func TestClosedLoopThrottledStart(t *testing.T) {
	cfg, err := config.Parse("workers.yaml", []byte(workers))
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := trace.Constant(trace.Grid{Step: time.Second, Duration: 5 * time.Minute}, 1)
	m, _ := queueModel(1)
	out, err := RunClosed(cfg, "workers", tr, m, ClosedOptions{Start: closedStart, Seed: 1, Infra: simprov.Infra{Throttle: 0.9}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if out.Throttled == 0 || out.Ready.V[0] != 2 {
		t.Errorf("%d calls throttled, %v ready at the start; want calls refused and the 2 initial instances serving", out.Throttled, out.Ready.V[0])
	}
}

// queueRuns are the runs of the named groups on their traces, each with a
// queue model of its own seed.
func queueRuns(t *testing.T, names []string, traces []*trace.Trace) []GroupRun {
	t.Helper()
	runs := make([]GroupRun, len(names))
	for i := range runs {
		m, err := queueModel(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = GroupRun{Group: names[i], Trace: traces[i], Model: m}
	}
	return runs
}
