package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	simprov "github.com/ebb-autoscaler/ebb/internal/provider/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// daily is a queue group's arrival trace: a daily cycle between 1 and 7
// jobs/s peaking at 14:00, times 20% log-normal noise, on grid g.
func daily(g trace.Grid, seed uint64) (*trace.Trace, error) {
	cycle, err := trace.Diurnal(g, 4, 3, 14*time.Hour)
	if err != nil {
		return nil, err
	}
	noise, err := trace.Noise(g, 0.2, seed)
	if err != nil {
		return nil, err
	}
	return trace.Mul(cycle, noise)
}

// queueModel is the workers' queue: 5 s exponential jobs, 4 per worker.
func queueModel(seed uint64) (workload.Model, error) {
	return workload.NewQueue(workload.QueueConfig{
		Service:   workload.Durations{Dist: "exponential", Mean: config.Duration(5 * time.Second)},
		PerWorker: 4, MaxWait: config.Duration(time.Minute), Arrivals: "poisson", Batches: 16, Tail: 0.01,
	}, seed)
}

var closedStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// faulty is a system with every fault the simulator has.
var faulty = simprov.Infra{BootJitter: 0.5, LaunchFailure: 0.1, MaxBooting: 3, Throttle: 0.1}

// digest sums up a run's curves and counts exactly: two runs digest alike
// only if every step of every curve is the same.
func digest(o *Outcome) string {
	h := sha256.New()
	for _, c := range [][]float64{o.Demand.V, o.Ready.V, o.Running.V} {
		for _, v := range c {
			h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
		}
	}
	for _, v := range o.Violating {
		if v {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	w := o.Work
	fmt.Fprintf(h, "%d %v %d %d %d %d", o.Actions, []float64{w.Submitted, w.Completed, w.InFlight, w.Queued, w.Lost},
		o.Launches, o.Failures, o.Throttled, o.ReconcileErrors)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// The closed loop's results for fixed seeds: every optimisation of the
// simulation's path must leave each step of each curve as it was.
//
// History of the digests. They were first captured from the unoptimised
// code. The third was captured again after two fixes it exposed (it lost
// a job each time): a drain refused by the system is not drained while
// the instance is idle for a moment, and an instance stopped before it was
// ready that the system put in service while its removal waited is
// drained or kept, not removed with its work. All three were captured
// again when the simulation began to skip the reconciles that have
// nothing to do (Status.Wake): every run here throttles calls, and each
// call draws from the system's generator, so fewer calls draw other
// faults. TestClosedLoopSkipsOnlyIdleReconciles shows, on runs without
// throttling, that the skipping itself changes no step.
func TestClosedLoopGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) *Outcome
		want string
	}{
		{name: "spike, faults", want: "0562dad673a658d9", run: func(t *testing.T) *Outcome {
			out, _ := closedRunOf(t, goldenWorkers, 7, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05, Throttle: 0.05})
			return out
		}},
		{name: "daily 1s, 6 hours, faulty", want: "a1f0309d190bccf4", run: func(t *testing.T) *Outcome {
			return dailyRun(t, 6*time.Hour, time.Second, 3, faulty)
		}},
		{name: "daily 15s, one day", want: "86bd98d0bf768b01", run: func(t *testing.T) *Outcome {
			return dailyRun(t, 24*time.Hour, 15*time.Second, 5, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05, Throttle: 0.05})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.run(t)
			got := digest(out)
			t.Logf("digest %s, ready sum %v, running sum %v, actions %d, launches %d, failures %d, throttled %d, reconcile errors %d, work %+v",
				got, sum(out.Ready.V), sum(out.Running.V), out.Actions, out.Launches, out.Failures, out.Throttled, out.ReconcileErrors, out.Work)
			if got != tc.want {
				t.Errorf("digest %s, want %s: the run's curves changed", got, tc.want)
			}
			if out.Work.Lost != 0 {
				t.Errorf("lost %v jobs", out.Work.Lost)
			}
		})
	}
}

// dailyRun runs the workers group for d on the daily trace at step.
func dailyRun(t testing.TB, d, step time.Duration, seed uint64, infra simprov.Infra) *Outcome {
	t.Helper()
	cfg, err := config.Parse("workers.yaml", []byte(goldenWorkers))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := daily(trace.Grid{Step: step, Duration: d}, seed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := queueModel(seed)
	if err != nil {
		t.Fatal(err)
	}
	out, err := RunClosed(cfg, "workers", tr, m, ClosedOptions{Start: closedStart, Step: step, Seed: seed, Infra: infra, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenWorkers is the workers group as it was when the digests were
// captured from the code before the closed loop was optimised (8 jobs per
// instance): changing it would need them captured again from that code.
var goldenWorkers = strings.Replace(workers, "per_instance: 4", "per_instance: 8", 1)

// A run that reconciles only when something is due (the desired capacity
// moved, the system changed, a reconciler's timer came due, or a draining
// instance finished its work at a drain check) is step for step the run
// that reconciles every step, as the daemon does every tick. Throttled
// calls are left out: each call draws from the system's generator, so a
// run that makes fewer calls draws other faults; boot spread and failed
// launches are drawn at launch and stay.
func TestClosedLoopSkipsOnlyIdleReconciles(t *testing.T) {
	cfg, err := config.Parse("workers.yaml", []byte(goldenWorkers))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		step  time.Duration
		hours int
		infra simprov.Infra
	}{
		{"1s steps, boot spread", time.Second, 6, simprov.Infra{BootJitter: 0.5}},
		{"1s steps, failed launches, boot limit", time.Second, 6, simprov.Infra{BootJitter: 0.5, LaunchFailure: 0.1, MaxBooting: 3}},
		{"15s steps, failed launches", 15 * time.Second, 24, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := daily(trace.Grid{Step: tc.step, Duration: time.Duration(tc.hours) * time.Hour}, 3)
			if err != nil {
				t.Fatal(err)
			}
			var outs [2]*Outcome
			for i, every := range []bool{true, false} {
				m, err := queueModel(3)
				if err != nil {
					t.Fatal(err)
				}
				opt := ClosedOptions{Start: closedStart, Step: tc.step, Seed: 3, Infra: tc.infra, Dir: t.TempDir(), everyStep: every}
				if outs[i], err = RunClosed(cfg, "workers", tr, m, opt); err != nil {
					t.Fatal(err)
				}
			}
			all, some := outs[0], outs[1]
			if a, b := digest(all), digest(some); a != b {
				t.Errorf("reconciling every step: digest %s, %d reconciles, %d actions, work %+v; only when due: digest %s, %d reconciles, %d actions, work %+v",
					a, all.Reconciles, all.Actions, all.Work, b, some.Reconciles, some.Actions, some.Work)
			}
			if some.Reconciles >= all.Reconciles {
				t.Errorf("%d reconciles when due, %d every step: nothing was skipped", some.Reconciles, all.Reconciles)
			}
			t.Logf("%d reconciles of %d steps (every step: %d)", some.Reconciles, len(some.Ready.V), all.Reconciles)
		})
	}
}
