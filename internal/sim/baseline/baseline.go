package baseline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// Names are the baselines, in the order `--compare` lists them.
var Names = []string{"hpa", "aws-target", "aws-step", "aws-predictive", "keda", "flink"}

// ErrUnknown is returned for a name that is not a baseline.
var ErrUnknown = errors.New("unknown baseline")

// ErrNotApplicable is returned for a baseline the workload kind cannot
// run: KEDA here scales on a queue, the Flink autoscaler only a streaming
// job.
var ErrNotApplicable = errors.New("baseline does not apply to the workload")

// Target is the signal a baseline sizes a workload kind on, and the value
// it holds it at.
type Target struct {
	// Signal is the workload's signal (see internal/sim/workload).
	Signal string
	// Value is the target: a utilization for service, streaming and OLAP;
	// items per replica (an AverageValue) for queue.
	Value float64
	// PerReplica says Signal is a total to divide by the replicas, as a
	// Kubernetes external metric with an AverageValue target is; else it
	// is already a per-instance average, as a utilization is.
	PerReplica bool
	// Load is the workload's arrival rate: load that does not depend on
	// capacity, which a forecast can learn (AWS predictive scaling's load
	// metric).
	Load string
	// LoadPerInstance is the Load one instance takes when Signal is at
	// Value: the load a forecast divides by to size the group.
	LoadPerInstance float64
}

// TargetFor is the default target of a workload kind:
//
//	service    utilization (offered load per instance) at 0.7, HPA's usual CPU target
//	queue      backlog (waiting + running jobs) at per_worker jobs per replica:
//	           KEDA's guidance "if one pod can handle N messages, target N"
//	streaming  busy (busyTimeMsPerSecond ÷ 1000) at 0.7, the Flink autoscaler's target
//	olap       busy (slots in use) at 0.7
//
// and the load one instance takes at that target (LoadPerInstance), in the
// workload's arrival-rate signal (Load), for c instances, λ arrivals per
// second, μ the rate one instance serves at and k the jobs it holds:
//
//	service    rps           0.7 × capacity_rps                utilization = λ ÷ (c·μ)
//	queue      arrival_rate  per_worker ÷ mean service time    Little's law: backlog = λ × time in system
//	streaming  input_rate    0.7 × per_worker_rps              busy = λ ÷ (c·μ) in steady state
//	olap       arrival_rate  0.7 × per_worker ÷ mean duration  Little's law: slots in use = λ × duration
//
// For queue workers that is the most a replica holding per_worker jobs can
// take with none waiting (time in system = service time); any wait brings
// the backlog to the target at less.
func TargetFor(w workload.Config) (Target, error) {
	switch kind := Kind(w); kind {
	case "service":
		return Target{Signal: "utilization", Value: 0.7,
			Load: "rps", LoadPerInstance: 0.7 * w.Service.CapacityRPS}, nil
	case "queue":
		k := float64(w.Queue.PerWorker)
		return Target{Signal: "backlog", Value: k, PerReplica: true,
			Load: "arrival_rate", LoadPerInstance: k / w.Queue.Service.Mean.D().Seconds()}, nil
	case "streaming":
		return Target{Signal: "busy", Value: 0.7,
			Load: "input_rate", LoadPerInstance: 0.7 * w.Streaming.PerWorkerRPS}, nil
	case "olap":
		return Target{Signal: "busy", Value: 0.7,
			Load: "arrival_rate", LoadPerInstance: 0.7 * float64(w.OLAP.PerWorker) / w.OLAP.Duration.Mean.D().Seconds()}, nil
	default:
		return Target{}, fmt.Errorf("workload %q: no baseline target", kind)
	}
}

// Kind is the workload kind w configures: service, queue, streaming or olap.
func Kind(w workload.Config) string {
	switch {
	case w.Service != nil:
		return "service"
	case w.Queue != nil:
		return "queue"
	case w.Streaming != nil:
		return "streaming"
	case w.OLAP != nil:
		return "olap"
	}
	return ""
}

// preset is one baseline: the workload kinds it applies to (nil: all) and
// the group it makes.
type preset struct {
	kinds []string
	build func(g config.Group, t Target) (spec, error)
}

// spec is a baseline group as YAML fragments, parsed (so defaulted and
// validated) as any config is.
type spec struct {
	min      int
	interval time.Duration
	signals  string // the body of signals:
	policies string // the body of policies:
	behavior string // the body of behavior:
}

var presets = map[string]preset{
	"hpa":            {build: hpa},
	"aws-target":     {build: awsTarget},
	"aws-step":       {build: awsStep},
	"aws-predictive": {build: awsPredictive},
	"keda":           {kinds: []string{"queue"}, build: keda},
	"flink":          {kinds: []string{"streaming"}, build: flink},
}

// Check reports whether name is a baseline that applies to the workload
// kind.
func Check(name, kind string) error {
	p, ok := presets[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	}
	if p.kinds != nil && !slices.Contains(p.kinds, kind) {
		return fmt.Errorf("%w: %s runs only on the %s workload, not %s", ErrNotApplicable, name, strings.Join(p.kinds, ", "), kind)
	}
	return nil
}

// Apply returns g rewritten as the named baseline for the workload w: its
// interval, signals, policies and behavior replaced by the preset's, its
// guards dropped (the other systems have none), its name, lifecycle and
// capacity.max kept; capacity.min is the group's unless the other system
// cannot go that low (an HPA keeps at least 1 replica), and the initial
// capacity is the group's, within the new bounds, so that every run starts
// alike.
func Apply(name string, g config.Group, w workload.Config) (config.Group, error) {
	kind := Kind(w)
	if err := Check(name, kind); err != nil {
		return g, err
	}
	t, err := TargetFor(w)
	if err != nil {
		return g, err
	}
	s, err := presets[name].build(g, t)
	if err != nil {
		return g, fmt.Errorf("baseline %s: %w", name, err)
	}
	initial := g.Capacity.Min
	if g.Capacity.Initial != nil {
		initial = *g.Capacity.Initial
	}
	initial = min(max(initial, s.min), g.Capacity.Max)
	doc := fmt.Sprintf(`groups:
  - name: %s
    capacity: {min: %d, max: %d, initial: %d}
    interval: %s
    signals:
%s
    policies:
%s
    behavior:
%s
`, g.Name, s.min, g.Capacity.Max, initial, dur(s.interval),
		indent(s.signals, 6), indent(s.policies, 6), indent(s.behavior, 6))
	f, err := config.Parse("baseline "+name, []byte(doc))
	if err != nil {
		return g, fmt.Errorf("baseline %s: %w", name, err)
	}
	b := f.Groups[0]
	out := g
	out.Capacity, out.Interval = b.Capacity, b.Interval
	out.Signals, out.Policies, out.Behavior = b.Signals, b.Policies, b.Behavior
	out.Guards = nil
	return out, nil
}

// pushed is the signals body for signals the workload reports.
func pushed(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s: {}\n", n)
	}
	return b.String()
}

// indent indents every line of s by n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}

// dur writes a duration in whole seconds, as the config reads it.
func dur(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

// num writes a number for YAML.
func num(v float64) string { return fmt.Sprintf("%g", v) }
