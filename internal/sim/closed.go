package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	ebbfleet "github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
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
	// Dir holds the run's scratch state files, one per worker; default a
	// temporary directory, removed at the end.
	Dir string
	// Progress, if set, is called now and then with the fraction done.
	Progress func(done float64)
	// Workers is how many goroutines run the groups' systems, workloads,
	// evaluations and reconcilers at once, each for its own share of the
	// groups; default (0) GOMAXPROCS. A run decides alike with any number.
	Workers int

	// everyStep reconciles every group at every step, as the daemon
	// does at every tick: the tests check that skipping the reconciles
	// that have nothing to do changes nothing.
	everyStep bool
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
	// Reconciles counts the fleet reconciles run: every step but those of
	// a settled fleet with nothing new.
	Reconciles int
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
	outs, err := RunClosedGroups(cfg, []GroupRun{{Group: group, Trace: tr, Model: m}}, opt)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// GroupRun is one group of a closed-loop run: the group of the config, its
// workload model and the arrival trace that drives it.
type GroupRun struct {
	Group string
	Trace *trace.Trace
	Model workload.Model
}

// RunClosedGroups runs several groups of cfg closed loop at once, as one
// ebb runs them: one engine decides for every group at each tick (budgets
// across them apply), and each group has its own simulated system and
// fleet reconciler. Opt.Workers goroutines run the groups, each a share of
// them with its own scratch state file; the results are the same for any
// number of workers. The same model must not serve two groups. The traces must last
// equally long. Group i's system draws from its own generator, seeded
// from the seed and i; the first group's is RunClosed's, so a group run
// first among others runs as it would alone, budgets aside. It returns an
// outcome per group, in runs' order.
func RunClosedGroups(cfg *config.File, runs []GroupRun, opt ClosedOptions) ([]*Outcome, error) {
	if len(runs) == 0 {
		return nil, errors.New("no group to run")
	}
	if opt.Step <= 0 {
		opt.Step = time.Second
	}
	one := *cfg
	one.Groups = make([]config.Group, len(runs))
	byName := make(map[string]int, len(cfg.Groups))
	for i, g := range cfg.Groups {
		byName[g.Name] = i
	}
	run := make(map[string]bool, len(runs)) // the groups run so far
	models := map[workload.Model]string{}   // their models, where comparable
	for i, r := range runs {
		gi, ok := byName[r.Group]
		if !ok {
			return nil, fmt.Errorf("no group %q in the config", r.Group)
		}
		if run[r.Group] {
			return nil, fmt.Errorf("group %q is run twice", r.Group)
		}
		run[r.Group] = true
		if t := reflect.TypeOf(r.Model); t != nil && t.Comparable() {
			if other, ok := models[r.Model]; ok {
				return nil, fmt.Errorf("groups %s and %s have the same workload model: each group needs one of its own", other, r.Group)
			}
			models[r.Model] = r.Group
		}
		if d, d0 := r.Trace.Duration(), runs[0].Trace.Duration(); d != d0 {
			return nil, fmt.Errorf("the trace of group %s lasts %s, that of %s %s: they must last equally long", r.Group, d, runs[0].Group, d0)
		}
		if l := cfg.Groups[gi].Lifecycle.Launch; l.Timeout > 0 && l.Boot >= l.Timeout {
			return nil, fmt.Errorf("group %s: lifecycle.launch.boot (%s) is not shorter than lifecycle.launch.timeout (%s): every simulated launch would time out before it is ready; set boot to the group's real boot time, or raise the timeout",
				r.Group, l.Boot, l.Timeout)
		}
		one.Groups[i] = simulated(cfg.Groups[gi])
	}
	eng, err := engine.New(&one)
	if err != nil {
		return nil, err
	}
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ebb-sim-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	steps := int(runs[0].Trace.Duration() / opt.Step)
	if steps == 0 {
		return nil, errNoTrace
	}

	ctx := context.Background()
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	shards := make([]*shard, min(opt.Workers, len(runs)))
	groups := make([]*closedGroup, len(runs))
	index := make(map[string]int, len(runs))
	for i, r := range runs {
		index[r.Group] = i
	}
	for k := range shards {
		// Nothing reads a run's journal of decisions and done intents
		// back: a short one spares each finished intent a walk over a
		// long one.
		st, err := store.Open(filepath.Join(dir, fmt.Sprintf("shard-%d.db", k)), store.Options{Scratch: true, JournalMax: journalMax})
		if err != nil {
			return nil, err
		}
		defer st.Close()
		sh := &shard{}
		for i := k * len(runs) / len(shards); i < (k+1)*len(runs)/len(shards); i++ {
			g, err := newClosedGroup(ctx, one.Groups[i], runs[i], eng.States[i], st, clock.NewFake(opt.Start), opt, uint64(i))
			if err != nil {
				return nil, err
			}
			g.index, g.interval = i, eng.Groups[i].Interval
			g.out = &Outcome{
				Demand:    measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
				Ready:     measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
				Running:   measure.Curve{Step: opt.Step, V: make([]float64, 0, steps)},
				Violating: make([]bool, 0, steps),
			}
			groups[i] = g
			sh.groups = append(sh.groups, g)
		}
		shards[k] = sh
	}

	var stop atomic.Bool // a shard failed: the others stop too
	for _, sh := range shards {
		sh.stop = &stop
	}
	if eng.Budgeted() {
		// Budgets make each group's decision depend on the others': the
		// shards run each step's work but the budgets at once, then the
		// engine settles the step's decisions across all of them.
		for k := 0; k <= steps; k++ {
			if err := eachShard(shards, func(sh *shard) error { return sh.step(ctx, eng, k, steps, opt.Step) }); err != nil {
				return nil, err
			}
			if k == steps {
				break
			}
			for _, d := range eng.Settle() {
				groups[index[d.Group]].count(d)
			}
			if opt.Progress != nil && k%max(steps/100, 1) == 0 {
				opt.Progress(float64(k) / float64(steps))
			}
		}
	} else {
		// Without budgets every group decides on its own: each shard
		// runs its groups one after the other, each from its first step
		// to its last. The progress is the shards' mean.
		if opt.Progress != nil {
			var mu sync.Mutex
			done := make([]float64, len(shards))
			for k, sh := range shards {
				sh.progress = func(f float64) {
					mu.Lock()
					defer mu.Unlock()
					done[k] = f
					sum := 0.0
					for _, d := range done {
						sum += d
					}
					opt.Progress(sum / float64(len(done)))
				}
			}
		}
		err := eachShard(shards, func(sh *shard) error { return sh.all(ctx, eng, steps, opt.Step) })
		if err != nil {
			return nil, err
		}
	}
	outs := make([]*Outcome, len(groups))
	for i, g := range groups {
		out := g.out
		out.Work = g.m.Work()
		out.Launches, out.Failures, out.Throttled = g.sys.Launches, g.sys.Failures, g.sys.Throttled
		outs[i] = out
	}
	return outs, nil
}

// shard is a part of a run's groups that one goroutine runs, with a
// scratch state file of its own. Each group has its own clock, system,
// reconciler and records, and nothing a group does reads another's, so a
// run decides alike however its groups are split into shards, and in
// whatever order a shard runs them.
type shard struct {
	groups []*closedGroup
	// progress, if set, is told the fraction of the shard's work done,
	// now and then.
	progress func(float64)
	// stop is set once any shard of the run failed.
	stop *atomic.Bool
}

// step runs step k of every group of the shard (see closedGroup.run).
func (sh *shard) step(ctx context.Context, eng *engine.Engine, k, steps int, step time.Duration) error {
	for _, g := range sh.groups {
		if err := g.run(ctx, eng, k, steps, step, false); err != nil {
			return err
		}
	}
	return nil
}

// all runs each group of the shard from its first step to its last, one
// group after the other, committing its decisions as it goes: for runs
// without budgets, where no group waits for the others. A group's state
// stays in the CPU's caches while it runs. It gives up once another
// shard failed.
func (sh *shard) all(ctx context.Context, eng *engine.Engine, steps int, step time.Duration) error {
	every := max(steps/100, 1)
	for i, g := range sh.groups {
		for k := 0; k <= steps; k++ {
			if err := g.run(ctx, eng, k, steps, step, true); err != nil {
				return err
			}
			if k%every != 0 {
				continue
			}
			if sh.stop.Load() {
				return errStopped
			}
			if sh.progress != nil {
				sh.progress((float64(i) + float64(k)/float64(steps)) / float64(len(sh.groups)))
			}
		}
	}
	return nil
}

// run is the group's part of step k: its reconcile and record of step k-1
// (on the clock of k-1), then, its clock moved to step k, its system and
// workload stepped and its decision evaluated, and committed if commit (a
// run without budgets; with budgets the engine's Settle commits). The last
// call, with k == steps, only finishes step k-1.
func (g *closedGroup) run(ctx context.Context, eng *engine.Engine, k, steps int, step time.Duration, commit bool) error {
	if k > 0 {
		if err := g.reconcile(ctx, g.clk.Now()); err != nil {
			return err
		}
		g.record()
		if k == steps {
			return nil
		}
		g.clk.Advance(step)
	}
	t, now := time.Duration(k)*step, g.clk.Now()
	if err := g.step(t, step, k == 0, eng.Groups[g.index]); err != nil {
		return err
	}
	g.before = g.state.Desired
	eng.Evaluate(g.index, now, func(int) (engine.Observation, bool) { return g.observe(t, now) })
	if commit {
		if d := eng.Commit(g.index); d != nil {
			g.count(d)
		}
	}
	return nil
}

// count counts the group's decision d if it changed desired capacity.
func (g *closedGroup) count(d *model.Decision) {
	if d.Direction == model.Up || d.Direction == model.Down {
		g.out.Actions++
	}
}

// eachShard runs fn for every shard at once, and returns the error of
// the first shard in their order that failed of itself (not one that
// stopped because another failed). A shard that fails sets stop.
func eachShard(shards []*shard, fn func(*shard) error) error {
	run := func(sh *shard) error {
		err := fn(sh)
		if err != nil {
			sh.stop.Store(true)
		}
		return err
	}
	if len(shards) == 1 {
		return run(shards[0])
	}
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for k := 1; k < len(shards); k++ {
		wg.Go(func() { errs[k] = run(shards[k]) })
	}
	errs[0] = run(shards[0])
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, errStopped) {
			return err
		}
		first = cmp.Or(first, err)
	}
	return first
}

// closedGroup is one group of a closed-loop run: its simulated system,
// workload and reconciler, and what the run measured of it so far.
type closedGroup struct {
	m        workload.Model
	sys      *simprov.System
	rec      *ebbfleet.Reconciler
	state    *engine.State
	index    int          // in the run, and in the engine
	clk      *clock.Fake  // the group's own: a shard may run it ahead of the others
	cursor   trace.Cursor // by value: one pointer fewer to follow at every step
	interval time.Duration

	reads   []signalRead
	reader  workload.SignalReader // nil: the model's signals are read from Signals
	values  map[string]float64
	samples []engine.Sample
	insts   []workload.Instance
	version uint64 // the system's Version when insts was listed

	everyStep bool

	rate  float64
	ready int
	// demand is the model's Demand at demandAt, when demandOK.
	demand   int
	demandAt float64
	demandOK bool
	changed  bool // the system changed in this step
	before   int  // desired before this step's evaluation
	out      *Outcome

	// wake is the last reconcile's Status.Wake: when the reconciler next
	// has something to do of its own.
	wake time.Time

	// gc is last: the first step and errors read it, and it is large
	// (784 bytes), so it stays clear of the fields every step reads.
	gc config.Group
}

// signalRead is a signal the model reports, its index in the engine's
// group and its index in the model's SignalNames.
type signalRead struct {
	name string
	idx  int
	at   int
}

// newClosedGroup builds the i-th group of a run: its system runs the
// group's initial capacity, adopted by its reconciler.
func newClosedGroup(ctx context.Context, gc config.Group, r GroupRun, state *engine.State, st *store.Store, clk *clock.Fake, opt ClosedOptions, i uint64) (*closedGroup, error) {
	infra := opt.Infra
	if infra.Boot == 0 {
		infra.Boot = gc.Lifecycle.Launch.Boot.D()
	}
	seed := opt.Seed ^ i*0x9e3779b97f4a7c15 // the seed itself for the first group
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	sys, err := simprov.New(infra, r.Group+"-", clk.Now, rng, r.Model)
	if err != nil {
		return nil, fmt.Errorf("simulated system: %w", err)
	}
	spec, err := ebbfleet.NewSpec(gc)
	if err != nil {
		return nil, err
	}
	rec := ebbfleet.NewCapacity(spec, sys, st, ebbfleet.Options{
		Clock: clk, Log: slog.New(slog.DiscardHandler),
		Rand: rand.New(rand.NewPCG(seed^1, seed^2)),
		// Ended instances are only history here: kept briefly, so each
		// reconcile does not read every instance ever launched.
		KeepTerminated: time.Minute,
	})
	sys.Warm(state.Desired) // the group runs at its initial capacity
	// A throttled system refuses some calls, the first one included: it
	// is asked again, as a daemon starting up would.
	for try := 1; ; try++ {
		_, err := rec.Adopt(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, simprov.ErrThrottled) || try == maxAdoptTries {
			return nil, fmt.Errorf("adopt the initial instances of %s: %w", r.Group, err)
		}
	}
	return &closedGroup{gc: gc, m: r.Model, sys: sys, rec: rec, state: state, clk: clk, cursor: *r.Trace.Cursor(),
		everyStep: opt.everyStep}, nil
}

// step moves the group's system and workload to t. At the first step it
// also finds the signals the model must report.
func (g *closedGroup) step(t, dt time.Duration, first bool, eg *engine.Group) error {
	g.changed = g.sys.Step()
	g.rate = g.cursor.At(t)
	// What the system serves changes at events only (a launch ready, a
	// drain, a removal): between them the last list stands.
	if v := g.sys.Version(); first || v != g.version {
		g.version = v
		g.insts = g.insts[:0]
		g.ready = 0
		g.sys.Each(func(id string, serving, draining bool) {
			g.insts = append(g.insts, workload.Instance{ID: id, Serving: serving, Draining: draining})
			if serving {
				g.ready++
			}
		})
	}
	g.m.Step(t, dt, g.rate, g.insts)
	if first {
		names, err := modelSignals(g.gc, g.m)
		if err != nil {
			return err
		}
		g.reader, _ = g.m.(workload.SignalReader)
		for _, n := range names {
			idx, _ := eg.SignalIndex(n)
			at := -1
			if g.reader != nil {
				at = slices.Index(g.reader.SignalNames(), n)
			}
			g.reads = append(g.reads, signalRead{n, idx, at})
		}
	}
	return nil
}

// observe is the group's observation for the engine, when the group is
// due at t: once per interval.
func (g *closedGroup) observe(t time.Duration, now time.Time) (engine.Observation, bool) {
	if t%g.interval != 0 {
		return engine.Observation{}, false
	}
	if g.reader == nil {
		g.values = g.m.Signals()
	}
	g.samples = g.samples[:0]
	for _, r := range g.reads {
		var v float64
		if g.reader != nil {
			v = g.reader.Signal(r.at)
		} else {
			v = g.values[r.name]
		}
		g.samples = append(g.samples, engine.Sample{Signal: r.idx, T: now, V: v})
	}
	return engine.Observation{Now: now, Ready: g.ready, Samples: g.samples}, true
}

// reconcile runs the group's fleet reconciler when it has something to
// do: the desired capacity moved, the system changed, or the reconciler's
// own next step came due (Status.Wake: a retry, a timeout, a drain
// check). Any other reconcile would find what the last one left and
// change nothing (the daemon reconciles every tick, because it cannot
// know that): it is skipped. A failed reconcile is counted and tried
// again, as the daemon would; one that lost the scratch store's writes
// ends the run.
func (g *closedGroup) reconcile(ctx context.Context, now time.Time) error {
	due := !g.wake.IsZero() && !now.Before(g.wake)
	if !due && !g.changed && g.state.Desired == g.before && !g.everyStep {
		return nil
	}
	g.out.Reconciles++
	status, err := g.rec.Reconcile(ctx, func() int { return g.state.Desired })
	g.wake = status.Wake
	if errors.Is(err, store.ErrScratchLost) {
		return fmt.Errorf("reconcile group %s: %w", g.gc.Name, err)
	}
	if err != nil {
		g.out.ReconcileErrors++
		g.wake = now // tried again at the next step, as the daemon would at its next tick
	}
	return nil
}

// record appends the step to the group's curves.
func (g *closedGroup) record() {
	o := g.out
	// Demand is a function of the rate alone, and a trace's rate often
	// holds for several steps.
	if !g.demandOK || g.rate != g.demandAt {
		g.demand, g.demandAt, g.demandOK = g.m.Demand(g.rate), g.rate, true
	}
	o.Demand.V = append(o.Demand.V, float64(g.demand))
	o.Ready.V = append(o.Ready.V, float64(g.ready))
	o.Running.V = append(o.Running.V, float64(g.sys.Running()))
	o.Violating = append(o.Violating, g.m.Violating())
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

// journalMax is how many done intents (and decisions) a run's scratch
// store keeps per group.
const journalMax = 16

// maxAdoptTries bounds the tries to adopt a group's initial instances
// from a throttled system.
const maxAdoptTries = 100

// errStopped is a shard's when it gave up because another failed.
var errStopped = errors.New("stopped: another worker failed")

// errNoTrace is returned for an empty trace.
var errNoTrace = errors.New("the trace is empty")
