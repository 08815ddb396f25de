package policy

import (
	"errors"
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// maxDatapoints is how many datapoints model.Datapoints remembers.
const maxDatapoints = 64

// simple adds or removes a fixed number of instances when a condition held
// for M of the last N evaluations.
type simple struct {
	name     string
	signal   string
	index    []int
	above    float64
	below    float64
	hasAbove bool
	hasBelow bool
	change   int
	need, of int
	why      simpleReasons
}

// simpleReasons are the policy's Reason formats, filled in at build time.
// "Held" formats are used when the condition holds now, "not" formats when it
// does not (it may still have held often enough to fire).
type simpleReasons struct {
	waitHeld, waitNot, fireHeld, fireNot string
}

func newSimple(name string, c config.Simple, index func(string) int) (*simple, error) {
	i, err := lookup(index, c.Signal)
	if err != nil {
		return nil, err
	}
	p := &simple{
		name:   name,
		signal: c.Signal,
		index:  []int{i},
		change: c.Change,
		need:   c.Datapoints.Need,
		of:     c.Datapoints.Of,
	}
	var cond string
	if c.Above != nil {
		if !finite(*c.Above) {
			return nil, fmt.Errorf("above %s: must be a finite number", num(*c.Above))
		}
		p.above, p.hasAbove = *c.Above, true
		cond = "above " + num(*c.Above)
	}
	if c.Below != nil {
		if !finite(*c.Below) {
			return nil, fmt.Errorf("below %s: must be a finite number", num(*c.Below))
		}
		p.below, p.hasBelow = *c.Below, true
		if cond != "" {
			cond += " or "
		}
		cond += "below " + num(*c.Below)
	}
	if cond == "" {
		return nil, errors.New("no condition: set above or below")
	}
	switch {
	case p.need < 1:
		return nil, fmt.Errorf("datapoints need %d: must be ≥ 1", p.need)
	case p.of < p.need:
		return nil, fmt.Errorf("datapoints of %d: must be ≥ need %d", p.of, p.need)
	case p.of > maxDatapoints:
		return nil, fmt.Errorf("datapoints of %d: at most %d are remembered", p.of, maxDatapoints)
	}
	f := func(s string) string {
		return fill(s,
			"{signal}", c.Signal,
			"{cond}", cond,
			"{of}", fmt.Sprint(p.of),
			"{need}", fmt.Sprint(p.need),
			"{change}", fmt.Sprintf("%+d", p.change))
	}
	p.why = simpleReasons{
		waitHeld: f("{signal} %v {cond} in %v of the last {of} datapoints, need {need}"),
		waitNot:  f("{signal} %v, not {cond}; held in %v of the last {of} datapoints, need {need}"),
		fireHeld: f("{signal} %v {cond} in %v of the last {of} datapoints (need {need}): %v {change} = %v"),
		fireNot:  f("{signal} %v, not {cond}, but held in %v of the last {of} datapoints (need {need}): %v {change} = %v"),
	}
	return p, nil
}

func (p *simple) Name() string   { return p.name }
func (p *simple) Signals() []int { return p.index }

// Evaluate records whether the condition holds in the policy's memory, so
// each call is one datapoint: the engine calls it once per tick.
func (p *simple) Evaluate(in Input) (model.Recommendation, error) {
	v, err := read(&in, p.index[0], p.signal)
	if err != nil {
		return model.Recommendation{}, err
	}
	if in.Memory == nil {
		return model.Recommendation{}, errors.New("no datapoint memory")
	}
	held := (p.hasAbove && v > p.above) || (p.hasBelow && v < p.below)
	in.Memory.Push(held, p.of)
	count := in.Memory.Count(p.of)
	if count < p.need {
		format := p.why.waitNot
		if held {
			format = p.why.waitHeld
		}
		return abstain(model.Because(format, model.Num(v), model.Int(count))), nil
	}
	desired := clampCount(float64(in.Current) + float64(p.change))
	format := p.why.fireNot
	if held {
		format = p.why.fireHeld
	}
	return recommend(desired, model.Because(format,
		model.Num(v), model.Int(count), model.Int(in.Current), model.Int(desired))), nil
}

var _ Policy = (*simple)(nil)
