package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
	"github.com/ebb-autoscaler/ebb/internal/signal"
)

// Group is a group's configuration compiled for evaluation. It is immutable
// once built and may be shared by goroutines; per-group memory lives in State.
type Group struct {
	Name     string
	Min, Max int
	Initial  int
	Interval time.Duration
	// Boot is how long a launched instance takes to become ready; the
	// simulator uses it.
	Boot time.Duration

	signals  []signalDef
	index    map[string]int
	order    []int // derived signals in dependency order
	policies []policy.Policy
	polSigs  [][]int
	forecast []bool // policies[i] is a policy.Forecaster; nil when none is
	up, down rules
	missing  config.Missing
	warmup   time.Duration
	guards   []guard
	eff      *effectiveness // nil: scale-outs are not judged
	history  time.Duration  // longest stabilization window or limit period
}

type aggregate int8

const (
	aggAvg aggregate = iota
	aggSum
	aggMax
	aggMin
)

type signalDef struct {
	name    string
	expr    *signal.Expr // nil for signals whose values are pushed
	stale   time.Duration
	agg     aggregate
	horizon time.Duration // history kept for window functions; 0: none
}

type selectMode int8

const (
	selectMax selectMode = iota
	selectMin
	selectDisabled
)

// rules is one direction's behavior.
type rules struct {
	dir       model.Direction
	window    time.Duration
	limits    []config.Limit
	sel       selectMode
	cooldown  time.Duration
	tolerance float64
	need, of  int
}

type guard struct {
	signal int
	name   string
	above  float64
	cap    int
	hasCap bool
}

// Compile builds a Group from a validated config group. It still reports
// inconsistencies (an unknown signal, a bad expression) as errors rather than
// trusting its caller.
func Compile(cfg config.Group) (*Group, error) {
	g := &Group{
		Name:     cfg.Name,
		Min:      cfg.Capacity.Min,
		Max:      cfg.Capacity.Max,
		Initial:  cfg.Capacity.Min,
		Interval: cfg.Interval.D(),
		Boot:     cfg.Lifecycle.Launch.Boot.D(),
		index:    map[string]int{},
		missing:  cfg.Behavior.Missing,
		warmup:   cfg.Behavior.Warmup.D(),
	}
	if cfg.Capacity.Initial != nil {
		g.Initial = *cfg.Capacity.Initial
	}
	if g.Max < g.Min || g.Min < 0 {
		return nil, fmt.Errorf("group %s: capacity max %d must be ≥ min %d ≥ 0", cfg.Name, g.Max, g.Min)
	}
	if g.Interval <= 0 {
		return nil, fmt.Errorf("group %s: interval must be > 0", cfg.Name)
	}
	names := make([]string, 0, len(cfg.Signals))
	for n := range cfg.Signals {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		g.index[n] = i
	}
	known := func(n string) bool { _, ok := g.index[n]; return ok }
	for _, n := range names {
		s := cfg.Signals[n]
		d := signalDef{name: n, stale: s.Stale.D(), agg: aggregateOf(s.Aggregate)}
		if s.Expr != "" {
			e, err := signal.Compile(s.Expr, known)
			if err != nil {
				return nil, fmt.Errorf("group %s: signal %s: %w", cfg.Name, n, err)
			}
			e.SetWindow(s.Window.D())
			d.expr = e
		}
		g.signals = append(g.signals, d)
	}
	if err := g.orderDerived(); err != nil {
		return nil, fmt.Errorf("group %s: %w", cfg.Name, err)
	}
	for _, d := range g.signals {
		if d.expr == nil {
			continue
		}
		for name, w := range d.expr.Windows() {
			i := g.index[name]
			// One extra interval keeps the sample just before the window.
			g.signals[i].horizon = max(g.signals[i].horizon, w+g.Interval)
		}
	}
	sigs := signalSet{g: g, cfg: cfg.Signals}
	for i, ps := range cfg.Policies {
		if pr := ps.Predictive; pr != nil && pr.Lead == nil {
			// A forecast looks as far ahead as an instance takes to boot:
			// what it launches now is ready when the load comes.
			c := *pr
			c.Lead = &cfg.Lifecycle.Launch.Boot
			ps.Predictive = &c
		}
		p, err := policy.New(ps, sigs)
		if err != nil {
			return nil, fmt.Errorf("group %s: policies[%d]: %w", cfg.Name, i, err)
		}
		g.policies = append(g.policies, p)
		g.polSigs = append(g.polSigs, p.Signals())
		if _, ok := p.(policy.Forecaster); ok {
			if g.forecast == nil {
				g.forecast = make([]bool, len(cfg.Policies))
			}
			g.forecast[i] = true
		}
	}
	g.up = rulesOf(model.Up, cfg.Behavior.Up.Window, cfg.Behavior.Up.Limits, cfg.Behavior.Up.Directional)
	g.down = rulesOf(model.Down, cfg.Behavior.Down.Window, cfg.Behavior.Down.Limits, cfg.Behavior.Down.Directional)
	g.history = max(g.up.window, g.down.window)
	for _, l := range append(slices.Clone(g.up.limits), g.down.limits...) {
		g.history = max(g.history, l.Per.D())
	}
	for _, p := range g.policies {
		if h, ok := p.(policy.Historian); ok {
			g.history = max(g.history, h.History())
		}
	}
	for _, gc := range cfg.Guards {
		i, ok := g.index[gc.Signal]
		if !ok {
			return nil, fmt.Errorf("group %s: guard: unknown signal %q", cfg.Name, gc.Signal)
		}
		gd := guard{signal: i, name: gc.Signal, above: gc.Above}
		if gc.Cap != nil {
			gd.cap, gd.hasCap = *gc.Cap, true
		}
		g.guards = append(g.guards, gd)
	}
	if ec := cfg.Behavior.Up.Effectiveness; ec != nil {
		i, ok := g.index[ec.Signal]
		if !ok {
			return nil, fmt.Errorf("group %s: behavior.up.effectiveness: unknown signal %q", cfg.Name, ec.Signal)
		}
		g.eff = compileEffectiveness(cfg, i)
	}
	return g, nil
}

// signalSet describes a group's signals to its policies.
type signalSet struct {
	g   *Group
	cfg map[string]config.Signal
}

func (s signalSet) Index(n string) int {
	if i, ok := s.g.index[n]; ok {
		return i
	}
	return -1
}

func (s signalSet) CPU(n string) bool { return s.cfg[n].Resource == "cpu" }

func rulesOf(dir model.Direction, window config.Duration, limits []config.Limit, d config.Directional) rules {
	r := rules{
		dir:       dir,
		window:    window.D(),
		limits:    limits,
		cooldown:  d.Cooldown.D(),
		tolerance: d.Tolerance,
		need:      max(d.Datapoints.Need, 1),
		of:        max(d.Datapoints.Of, 1),
	}
	switch d.Select {
	case "min":
		r.sel = selectMin
	case "disabled":
		r.sel = selectDisabled
	}
	return r
}

func aggregateOf(s string) aggregate {
	switch s {
	case "sum":
		return aggSum
	case "max":
		return aggMax
	case "min":
		return aggMin
	default:
		return aggAvg
	}
}

// orderDerived sorts derived signals so each comes after what it reads, and
// rejects cycles.
func (g *Group) orderDerived() error {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(g.signals))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("signals form a cycle: %s → %s", joinArrow(path), g.signals[i].name)
		}
		state[i] = visiting
		path = append(path, g.signals[i].name)
		if e := g.signals[i].expr; e != nil {
			for _, dep := range e.Deps() {
				if err := visit(g.index[dep]); err != nil {
					return err
				}
			}
			g.order = append(g.order, i)
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range g.signals {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

func joinArrow(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " → "
		}
		out += x
	}
	return out
}

// forecasts reports whether policy i is a policy.Forecaster.
func (g *Group) forecasts(i int) bool { return g.forecast != nil && g.forecast[i] }

// SignalIndex returns the index of a named signal, for building Samples.
func (g *Group) SignalIndex(name string) (int, bool) {
	i, ok := g.index[name]
	return i, ok
}

// SignalNames returns the group's signal names in index order.
func (g *Group) SignalNames() []string {
	out := make([]string, len(g.signals))
	for i, s := range g.signals {
		out[i] = s.name
	}
	return out
}

// Pushed reports whether signal i takes pushed values (it is not derived).
func (g *Group) Pushed(i int) bool { return g.signals[i].expr == nil }
