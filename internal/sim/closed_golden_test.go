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

// The closed loop's results for fixed seeds, captured before the fleet
// reconciler and the store were made faster: every optimisation of the
// simulation's path must leave each step of each curve as it was.
func TestClosedLoopGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) *Outcome
		want string
	}{
		{name: "spike, faults", want: "da1d2d54ea55da51", run: func(t *testing.T) *Outcome {
			out, _ := closedRunOf(t, goldenWorkers, 7, simprov.Infra{BootJitter: 0.3, LaunchFailure: 0.05, Throttle: 0.05})
			return out
		}},
		{name: "daily 1s, 6 hours, faulty", want: "4967121b2ffd7664", run: func(t *testing.T) *Outcome {
			return dailyRun(t, 6*time.Hour, time.Second, 3, faulty)
		}},
		// Captured again after two fixes this run exposed (it lost a job
		// each time): a drain refused by the system is not drained while
		// the instance is idle for a moment, and an instance stopped
		// before it was ready that the system put in service while its
		// removal waited is drained or kept, not removed with its work.
		// The other two runs did not meet those cases: their digests are
		// still the unoptimised code's.
		{name: "daily 15s, one day", want: "6e7707507dd07885", run: func(t *testing.T) *Outcome {
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
