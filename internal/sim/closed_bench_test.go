package sim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	simprov "github.com/ebb-autoscaler/ebb/internal/provider/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// benchInfra is the system the benchmarks run on: boot times spread, a
// few failed launches and throttled calls.
var benchInfra = simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.02, Throttle: 0.02}

// benchGroup is the benchmarks' group: queue workers sized by their
// backlog, four jobs at a time each, drained on scale-in. Its jobs take a
// minute (benchModel), so the queue's signals mean the same at 1 s and at
// 15 s resolution: the group scales alike at both, a few hundred times a
// day on benchTrace.
const benchGroup = `
  - name: %s
    capacity: {min: 2, max: 30}
    interval: 15s
    signals: {backlog: {stale: 1m}}
    policies: [{queue: {signal: backlog, per_instance: 4}}]
    behavior: {down: {window: 5m}}
    lifecycle: {launch: {boot: 60s}, drain: {timeout: 30m}}
`

// benchModel is the benchmarks' queue: one-minute exponential jobs, four
// per worker.
func benchModel(seed uint64) (workload.Model, error) {
	return workload.NewQueue(workload.QueueConfig{
		Service:   workload.Durations{Dist: "exponential", Mean: config.Duration(time.Minute)},
		PerWorker: 4, MaxWait: config.Duration(time.Minute), Arrivals: "poisson", Batches: 16, Tail: 0.01,
	}, seed)
}

// benchTrace is a daily cycle between 5 and 35 busy workers' worth of
// jobs (1/12 to 7/12 jobs/s) peaking at peak, times 20% noise of its own
// seed.
func benchTrace(g trace.Grid, peak time.Duration, seed uint64) (*trace.Trace, error) {
	cycle, err := trace.Diurnal(g, 4.0/12, 3.0/12, peak)
	if err != nil {
		return nil, err
	}
	noise, err := trace.Noise(g, 0.2, seed)
	if err != nil {
		return nil, err
	}
	return trace.Mul(cycle, noise)
}

// BenchmarkClosed30Days runs one queue group closed loop for 30 days at
// 1-second resolution on a daily cycle with noise: the engine, the fleet
// reconciler and the simulated system at every step, the engine deciding
// every 15 s.
//
//	go test -run '^$' -bench BenchmarkClosed30Days -benchtime 1x ./internal/sim
//
// EBB_BENCH_DAYS (default 30) shortens it.
func BenchmarkClosed30Days(b *testing.B) {
	days := benchEnvInt(b, "EBB_BENCH_DAYS", 30)
	cfg, names, err := manyGroups(benchGroup, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := benchTrace(trace.Grid{Step: time.Second, Duration: time.Duration(days) * 24 * time.Hour}, 14*time.Hour, 1)
	if err != nil {
		b.Fatal(err)
	}
	steps := int(tr.Duration() / time.Second)
	var out *Outcome
	b.ReportAllocs()
	for b.Loop() {
		m, err := benchModel(1)
		if err != nil {
			b.Fatal(err)
		}
		out, err = RunClosed(cfg, names[0], tr, m, ClosedOptions{Start: closedStart, Seed: 1, Infra: benchInfra, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
	b.ReportMetric(float64(out.Actions), "actions")
	b.ReportMetric(float64(out.Launches), "launches")
	b.ReportMetric(float64(out.Reconciles), "reconciles")
}

// BenchmarkClosed1000Groups runs 1,000 queue groups closed loop for a day
// at 15-second resolution, each on a daily cycle of its own phase and
// noise: one engine deciding for all of them every 15 s, a worker with a
// state file of its own per core, a fleet reconciler and simulated system
// per group.
//
//	go test -run '^$' -bench BenchmarkClosed1000Groups -benchtime 1x ./internal/sim
//
// EBB_BENCH_GROUPS (default 1000) and EBB_BENCH_HOURS (default 24) size it.
func BenchmarkClosed1000Groups(b *testing.B) {
	n := benchEnvInt(b, "EBB_BENCH_GROUPS", 1000)
	hours := benchEnvInt(b, "EBB_BENCH_HOURS", 24)
	cfg, names, err := manyGroups(benchGroup, n)
	if err != nil {
		b.Fatal(err)
	}
	const step = 15 * time.Second
	g := trace.Grid{Step: step, Duration: time.Duration(hours) * time.Hour}
	traces := make([]*trace.Trace, n)
	for i := range traces {
		// Each group peaks at its own time of day.
		if traces[i], err = benchTrace(g, time.Duration(i)*24*time.Hour/time.Duration(n), uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	var outs []*Outcome
	b.ReportAllocs()
	for b.Loop() {
		runs := make([]GroupRun, n)
		for i := range runs {
			m, err := benchModel(uint64(i))
			if err != nil {
				b.Fatal(err)
			}
			runs[i] = GroupRun{Group: names[i], Trace: traces[i], Model: m}
		}
		outs, err = RunClosedGroups(cfg, runs, ClosedOptions{Start: closedStart, Step: step, Seed: 1, Infra: benchInfra, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
	}
	steps := int(g.Duration / step)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps*n), "ns/group-step")
	actions, launches, reconciles := 0, 0, 0
	for _, o := range outs {
		actions, launches, reconciles = actions+o.Actions, launches+o.Launches, reconciles+o.Reconciles
	}
	b.ReportMetric(float64(reconciles)/float64(n), "reconciles/group")
	b.ReportMetric(float64(actions)/float64(n), "actions/group")
	b.ReportMetric(float64(launches)/float64(n), "launches/group")
}

// manyWorkers is a config of n workers groups, w0000, w0001, …
func manyWorkers(n int) (*config.File, []string, error) {
	return manyGroups(`
  - name: %s
    capacity: {min: 2, max: 30}
    interval: 15s
    signals: {backlog: {stale: 1m}}
    policies: [{queue: {signal: backlog, per_instance: 8}}]
    behavior: {down: {window: 2m}}
    lifecycle: {launch: {boot: 60s}, drain: {timeout: 30m}}
`, n)
}

// manyGroups is a config of n groups w0000, w0001, … made from group, a
// group's YAML with %s for its name.
func manyGroups(group string, n int) (*config.File, []string, error) {
	var y strings.Builder
	y.WriteString("groups:")
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("w%04d", i)
		fmt.Fprintf(&y, group, names[i])
	}
	cfg, err := config.Parse("groups.yaml", []byte(y.String()))
	return cfg, names, err
}

// phased is n daily traces on g, each peaking at its own time of day with
// its own noise.
func phased(g trace.Grid, n int) ([]*trace.Trace, error) {
	out := make([]*trace.Trace, n)
	for i := range out {
		cycle, err := trace.Diurnal(g, 4, 3, time.Duration(i)*24*time.Hour/time.Duration(max(n, 1)))
		if err != nil {
			return nil, err
		}
		noise, err := trace.Noise(g, 0.2, uint64(i))
		if err != nil {
			return nil, err
		}
		if out[i], err = trace.Mul(cycle, noise); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func benchEnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}
