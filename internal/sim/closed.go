package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	ebbfleet "github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	simprov "github.com/ebb-autoscaler/ebb/internal/provider/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// ClosedOptions configure a closed-loop run.
type ClosedOptions struct {
	// Start is the virtual time of the trace's t = 0; schedules read it.
	Start time.Time
	// Step is the workload's resolution; default 1s.
	Step time.Duration
	// Infra is how the simulated system behaves. A zero Boot takes the
	// group's lifecycle.launch.boot.
	Infra simprov.Infra
	// Seed seeds the system's randomness (boot times, failures).
	Seed uint64
	// Dir holds the run's scratch state file; default a temporary
	// directory, removed at the end.
	Dir string
	// Progress, if set, is called now and then with the fraction done.
	Progress func(done float64)
}

// Outcome is what a closed-loop run measured.
type Outcome struct {
	// Demand, Ready and Running are per step: instances the workload
	// needs for its SLO at the trace's rate, instances serving, and
	// instances billed (booting and draining included).
	Demand, Ready, Running measure.Curve
	// Violating is per step: the workload's SLO was violated.
	Violating []bool
	// Actions counts the decisions that changed desired capacity.
	Actions int
	// Work is the workload's account at the end.
	Work workload.Work
	// Launches, Failures and Throttled count what the system did: launches,
	// launches that never became ready, API calls refused.
	Launches, Failures, Throttled int
	// ReconcileErrors counts reconciles that failed (throttled calls, as a
	// daemon's would, retried at the next).
	ReconcileErrors int
}

// Measures turns the outcome into the comparison's row.
func (o *Outcome) Measures(policy string) (measure.Result, error) {
	return measure.Measure(measure.Run{
		Policy: policy, Demand: o.Demand, Ready: o.Ready, Running: o.Running, Violated: o.Violating,
		Actions: o.Actions, LostWork: o.Work.Lost,
	})
}

// RunClosed runs one group of cfg against the workload m driven by the
// trace tr, closed loop: the engine decides from what m reports, the fleet
// reconciler (the daemon's, unchanged) launches and drains on the
// simulated system, and what runs changes what m sees next. It is
// deterministic for a seed.
func RunClosed(cfg *config.File, group string, tr *trace.Trace, m workload.Model, opt ClosedOptions) (*Outcome, error) {
	gi := slices.IndexFunc(cfg.Groups, func(g config.Group) bool { return g.Name == group })
	if gi < 0 {
		return nil, fmt.Errorf("no group %q in the config", group)
	}
	if opt.Step <= 0 {
		opt.Step = time.Second
	}
	gc := simulated(cfg.Groups[gi])
	one := *cfg
	one.Groups = []config.Group{gc}
	eng, err := engine.New(&one)
	if err != nil {
		return nil, err
	}
	infra := opt.Infra
	if infra.Boot == 0 {
		infra.Boot = gc.Lifecycle.Launch.Boot.D()
	}
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ebb-sim-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	st, err := store.Open(filepath.Join(dir, group+".db"), store.Options{Scratch: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	clk := clock.NewFake(opt.Start)
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed))
	sys, err := simprov.New(infra, group+"-", clk.Now, rng, m)
	if err != nil {
		return nil, fmt.Errorf("simulated system: %w", err)
	}
	spec, err := ebbfleet.NewSpec(gc)
	if err != nil {
		return nil, err
	}
	rec := ebbfleet.NewCapacity(spec, sys, st, ebbfleet.Options{
		Clock: clk, Log: slog.New(slog.DiscardHandler),
		Rand: rand.New(rand.NewPCG(opt.Seed^1, opt.Seed^2)),
		// Ended instances are only history here: kept briefly, so each
		// reconcile does not read every instance ever launched.
		KeepTerminated: time.Minute,
	})
	ctx := context.Background()
	state := eng.States[0]
	sys.Warm(state.Desired) // the group runs at its initial capacity
	if _, err := rec.Adopt(ctx); err != nil {
		return nil, fmt.Errorf("adopt the initial instances: %w", err)
	}

	steps := int(tr.Duration() / opt.Step)
	if steps == 0 {
		return nil, errNoTrace
	}
	type read struct {
		name string
		idx  int
	}
	var reads []read
	values := map[string]float64{}
	out := &Outcome{
		Demand:    measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
		Ready:     measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
		Running:   measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
		Violating: make([]bool, 0, steps),
	}
	cursor := tr.Cursor()
	interval := eng.Groups[0].Interval
	var insts []workload.Instance
	var samples []engine.Sample
	settled := false
	for k := 0; k < steps; k++ {
		t := time.Duration(k) * opt.Step
		if k > 0 {
			clk.Advance(opt.Step)
		}
		now := clk.Now()
		changed := sys.Step()
		rate := cursor.At(t)
		insts = insts[:0]
		ready := 0
		sys.Each(func(id string, serving, draining bool) {
			insts = append(insts, workload.Instance{ID: id, Serving: serving, Draining: draining})
			if serving {
				ready++
			}
		})
		m.Step(t, opt.Step, rate, insts)
		if k == 0 {
			names, err := modelSignals(gc, m)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				idx, _ := eng.Groups[0].SignalIndex(n)
				reads = append(reads, read{n, idx})
			}
		}

		before := state.Desired
		if t%interval == 0 {
			if w, ok := m.(workload.SignalsWriter); ok {
				w.SignalsInto(values)
			} else {
				values = m.Signals()
			}
			samples = samples[:0]
			for _, r := range reads {
				samples = append(samples, engine.Sample{Signal: r.idx, T: now, V: values[r.name]})
			}
			for _, d := range eng.Step(now, func(int) engine.Observation {
				return engine.Observation{Now: now, Ready: ready, Samples: samples}
			}) {
				if d.Direction == model.Up || d.Direction == model.Down {
					out.Actions++
				}
			}
		}
		// A settled fleet whose system did not change and whose desired
		// capacity did not move has nothing to do: its reconcile is skipped.
		if changed || state.Desired != before || !settled {
			status, err := rec.Reconcile(ctx, func() int { return state.Desired })
			settled = err == nil && status.Settled
			if err != nil {
				out.ReconcileErrors++
			}
		}

		out.Demand.V = append(out.Demand.V, float64(m.Demand(rate)))
		out.Ready.V = append(out.Ready.V, float64(ready))
		out.Running.V = append(out.Running.V, float64(sys.Running()))
		out.Violating = append(out.Violating, m.Violating())
		if opt.Progress != nil && k%max(steps/100, 1) == 0 {
			opt.Progress(float64(k) / float64(steps))
		}
	}
	out.Work = m.Work()
	out.Launches, out.Failures, out.Throttled = sys.Launches, sys.Failures, sys.Throttled
	return out, nil
}

// simulated is the group as the simulator runs it: its own drain actions,
// probes and commands reach real instances, which a simulation has none
// of; the simulated system drains instead (the workload finishes their
// work), and says when an instance is ready. Timeouts, selection,
// protection and limits are kept.
func simulated(g config.Group) config.Group {
	g.Provider = config.Provider{}
	l := &g.Lifecycle
	l.Launch.Ready = config.Probe{}
	l.Health = config.Health{}
	l.Drain.Signal, l.Drain.HTTP, l.Drain.Command, l.Drain.Busy = "", config.HTTPAction{}, nil, config.Probe{}
	return g
}

// modelSignals lists the signals of the group the model must report: every
// one not derived (expr) by the engine. A signal the model does not report
// is an error naming those it does.
func modelSignals(g config.Group, m workload.Model) ([]string, error) {
	offered := m.Signals()
	var reads, missing []string
	for _, name := range slices.Sorted(maps.Keys(g.Signals)) {
		if g.Signals[name].Expr != "" {
			continue
		}
		if _, ok := offered[name]; !ok {
			missing = append(missing, name)
			continue
		}
		reads = append(reads, name)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("group %s reads %s, which the workload does not report; it reports %s",
			g.Name, strings.Join(missing, ", "), strings.Join(slices.Sorted(maps.Keys(offered)), ", "))
	}
	return reads, nil
}

var _ provider.Capacity = (*simprov.System)(nil)

// errNoTrace is returned for an empty trace.
var errNoTrace = errors.New("the trace is empty")
