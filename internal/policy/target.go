package policy

import (
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// targetMode selects how a target policy reads its signal.
type targetMode int8

const (
	// modeAverage sizes from the group's value of the signal.
	modeAverage targetMode = iota
	// modeHPA sizes from per-instance values the way the Kubernetes HPA does.
	modeHPA
)

// target is target tracking: desired = ceil(instances × value ÷ target).
type target struct {
	name   string
	signal string
	index  []int
	value  float64
	mode   targetMode
	cpu    bool // the signal is a CPU utilization
	why    targetReasons
}

// targetReasons are the policy's Reason formats, filled in at build time.
type targetReasons struct {
	hold, sizeReady, sizeCurrent, empty string
	hpaHold, hpaSize, fromZero          string
	// Conservative HPA path: a shared prefix, then one of four outcomes.
	consWithin, consFlip, consAgainst, consSize string
}

func newTarget(name string, c config.Target, signals Signals) (*target, error) {
	i, err := lookup(signals.Index, c.Signal)
	if err != nil {
		return nil, err
	}
	if !finite(c.Value) || c.Value <= 0 {
		return nil, fmt.Errorf("value %s: must be a number > 0", num(c.Value))
	}
	p := &target{name: name, signal: c.Signal, index: []int{i}, value: c.Value, cpu: signals.CPU(c.Signal)}
	switch c.Mode {
	case "average", "":
		p.mode = modeAverage
	case "hpa":
		p.mode = modeHPA
	default:
		return nil, fmt.Errorf("unknown mode %q: want average or hpa", c.Mode)
	}
	// For CPU only ready, warm instances are counted; for other metrics
	// every instance that reports.
	counted := "instances reporting"
	if p.cpu {
		counted = "ready instances"
	}
	f := func(s string) string {
		return fill(s, "{signal}", c.Signal, "{target}", num(c.Value), "{counted}", counted)
	}
	const cons = "{signal} ratio %v on {counted}; with %v %v: "
	p.why = targetReasons{
		hold:        f("{signal} %v vs target {target}: within tolerance (ratio %v, band %v–%v): hold %v"),
		sizeReady:   f("{signal} %v vs target {target} at %v ready instances: ceil(%v × %v / {target}) = %v"),
		sizeCurrent: f("{signal} %v vs target {target} at %v instances, none ready: ceil(%v × %v / {target}) = %v"),
		empty:       f("{signal} %v vs target {target}: no instances to measure; target tracking cannot size from zero"),
		hpaHold:     f("{signal} averages %v over %v {counted} vs target {target}: within tolerance (ratio %v, band %v–%v): hold %v"),
		hpaSize:     f("{signal} averages %v over %v {counted} vs target {target}: ceil(%v × %v / {target}) = %v"),
		fromZero:    f("{signal} %v vs target {target} at 0 instances: ceil(%v / {target}) = %v"),
		consWithin:  f(cons + "ratio %v within tolerance: hold %v"),
		consFlip:    f(cons + "ratio %v reverses the direction: hold %v"),
		consAgainst: f(cons + "ratio %v gives %v, the other way: hold %v"),
		consSize:    f(cons + "ceil(%v × %v) = %v"),
	}
	return p, nil
}

func (p *target) Name() string     { return p.name }
func (p *target) Signals() []int   { return p.index }
func (p *target) signalIndex() int { return p.index[0] }

func (p *target) Evaluate(in Input) (model.Recommendation, error) {
	if p.mode == modeHPA {
		if insts := in.Instances(p.signalIndex()); len(insts) > 0 {
			return p.hpa(in, insts)
		}
		// Without per-instance values the group's value is all there is:
		// an object or external metric. At 0 instances Kubernetes sizes
		// it as ceil(ratio), without a tolerance check; otherwise the HPA
		// rule is the average one.
		if in.Current == 0 {
			return p.fromZero(in)
		}
	}
	return p.average(in)
}

// fromZero sizes a group at 0 instances from the group's value: ceil(value
// ÷ target), as Kubernetes does for an object or external metric.
func (p *target) fromZero(in Input) (model.Recommendation, error) {
	v, err := read(&in, p.signalIndex(), p.signal)
	if err != nil {
		return model.Recommendation{}, err
	}
	desired := ceilCount(v / p.value)
	return recommend(desired, model.Because(p.why.fromZero, model.Num(v), model.Num(v), model.Int(desired))), nil
}

// average sizes from the group's value: ceil(base × value ÷ target), where
// base is the ready instances (they produced the value) or, when none are
// ready yet, the current capacity.
func (p *target) average(in Input) (model.Recommendation, error) {
	v, err := read(&in, p.signalIndex(), p.signal)
	if err != nil {
		return model.Recommendation{}, err
	}
	ratio := v / p.value
	if in.Tolerance.Within(ratio) {
		lo, hi := band(in.Tolerance)
		return recommend(in.Current, model.Because(p.why.hold,
			model.Num(v), model.Num(ratio), model.Num(lo), model.Num(hi), model.Int(in.Current))), nil
	}
	base, format := in.Ready, p.why.sizeReady
	if base <= 0 {
		base, format = in.Current, p.why.sizeCurrent
	}
	if base <= 0 {
		return abstain(model.Because(p.why.empty, model.Num(v))), nil
	}
	desired := ceilCount(float64(base) * v / p.value)
	return recommend(desired, model.Because(format,
		model.Num(v), model.Int(base), model.Int(base), model.Num(v), model.Int(desired))), nil
}

// hpa follows the Kubernetes replica calculator for per-pod metrics.
//
// Instances not ready and without a value (a pod still pending) are set
// aside; for a CPU utilization, so are those not ready or still warming up
// (Kubernetes' CPU initialization rules), while for any other metric every
// instance's value counts. Instances that should have a value and have
// none are missing. When that leaves the answer uncertain, the calculation
// is redone counting the missing at the target on a scale-in (they might
// be busy; for CPU at max(100%, target), as Kubernetes does) and at 0 on a
// scale-out (they might be idle), and the not-ready at 0 on a scale-out.
// If the recount lands within tolerance or flips the direction, the group
// holds: the unknowns are as likely to explain the signal as a capacity
// change.
func (p *target) hpa(in Input, insts []InstanceValue) (model.Recommendation, error) {
	var (
		sum                     float64
		ready, unready, missing int
	)
	for _, iv := range insts {
		has := iv.OK && finite(iv.V)
		switch {
		case !iv.Ready && !has, p.cpu && (!iv.Ready || !iv.Warm):
			unready++
		case !has:
			missing++
		default:
			sum += iv.V
			ready++
		}
	}
	if ready == 0 {
		return model.Recommendation{}, fmt.Errorf("no ready instance reported %s", p.signal)
	}
	avg := sum / float64(ready)
	ratio := avg / p.value
	rebalance := unready > 0 && ratio > 1
	// At a ratio of exactly 1 the missing are counted neither way, so the
	// recount would give the same ratio: take the plain path.
	if (!rebalance && missing == 0) || ratio == 1 {
		if in.Tolerance.Within(ratio) {
			lo, hi := band(in.Tolerance)
			return recommend(in.Current, model.Because(p.why.hpaHold,
				model.Num(avg), model.Int(ready), model.Num(ratio), model.Num(lo), model.Num(hi), model.Int(in.Current))), nil
		}
		desired := ceilCount(sum / p.value)
		return recommend(desired, model.Because(p.why.hpaSize,
			model.Num(avg), model.Int(ready), model.Int(ready), model.Num(avg), model.Int(desired))), nil
	}

	counted, extra := sum, 0
	rule := "missing counted as 0"
	if missing > 0 {
		extra += missing
		if ratio < 1 {
			fallback, at := p.value, "at target"
			if p.cpu && p.value < 1 {
				fallback, at = 1, "at 100%"
			}
			counted += float64(missing) * fallback
			rule = "missing counted " + at
		}
	}
	if rebalance {
		extra += unready
		rule = "not ready counted as 0"
		if missing > 0 {
			rule = "missing or not ready counted as 0"
		}
	}
	n := ready + extra
	newRatio := counted / float64(n) / p.value
	head := [3]model.Arg{model.Num(ratio), model.Int(extra), model.Str(rule)}
	switch {
	case in.Tolerance.Within(newRatio):
		return recommend(in.Current, model.Because(p.why.consWithin,
			head[0], head[1], head[2], model.Num(newRatio), model.Int(in.Current))), nil
	case (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1):
		return recommend(in.Current, model.Because(p.why.consFlip,
			head[0], head[1], head[2], model.Num(newRatio), model.Int(in.Current))), nil
	}
	desired := ceilCount(newRatio * float64(n))
	if (newRatio < 1 && desired > in.Current) || (newRatio > 1 && desired < in.Current) {
		return recommend(in.Current, model.Because(p.why.consAgainst,
			head[0], head[1], head[2], model.Num(newRatio), model.Int(desired), model.Int(in.Current))), nil
	}
	return recommend(desired, model.Because(p.why.consSize,
		head[0], head[1], head[2], model.Int(n), model.Num(newRatio), model.Int(desired))), nil
}

// band is the tolerance band's edges, for reasons.
func band(t Tolerance) (lo, hi float64) { return 1 - t.Down, 1 + t.Up }

var _ Policy = (*target)(nil)
