package policy

import (
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// queue sizes a group by the work waiting: ceil(items ÷ per_instance), with
// an activation level below which it recommends zero.
type queue struct {
	name        string
	signal      string
	index       []int
	perInstance float64
	activation  float64
	why         queueReasons
}

// queueReasons are the policy's Reason formats, filled in at build time.
type queueReasons struct {
	idle, hold, size, wake string
}

func newQueue(name string, c config.Queue, index func(string) int) (*queue, error) {
	i, err := lookup(index, c.Signal)
	if err != nil {
		return nil, err
	}
	if !finite(c.PerInstance) || c.PerInstance <= 0 {
		return nil, fmt.Errorf("per_instance %s: must be a number > 0", num(c.PerInstance))
	}
	if !finite(c.Activation) {
		return nil, fmt.Errorf("activation %s: must be a finite number", num(c.Activation))
	}
	f := func(s string) string {
		return fill(s, "{signal}", c.Signal, "{per}", num(c.PerInstance), "{act}", num(c.Activation))
	}
	return &queue{
		name:        name,
		signal:      c.Signal,
		index:       []int{i},
		perInstance: c.PerInstance,
		activation:  c.Activation,
		why: queueReasons{
			idle: f("{signal}: %v items ≤ activation {act}: recommend 0"),
			hold: f("{signal}: %v items on %v instances, %v each vs {per}: within tolerance (ratio %v): hold %v"),
			size: f("{signal}: %v items at {per} per instance: ceil(%v / {per}) = %v"),
			wake: f("{signal}: %v items above activation {act}: at least 1 instance"),
		},
	}, nil
}

func (p *queue) Name() string   { return p.name }
func (p *queue) Signals() []int { return p.index }

func (p *queue) Evaluate(in Input) (model.Recommendation, error) {
	items, err := read(&in, p.index[0], p.signal)
	if err != nil {
		return model.Recommendation{}, err
	}
	if items <= p.activation {
		return recommend(0, model.Because(p.why.idle, model.Num(items))), nil
	}
	if in.Current > 0 {
		each := items / float64(in.Current)
		ratio := each / p.perInstance
		if in.Tolerance.Within(ratio) {
			return recommend(in.Current, model.Because(p.why.hold,
				model.Num(items), model.Int(in.Current), model.Num(each), model.Num(ratio), model.Int(in.Current))), nil
		}
	}
	desired := ceilCount(items / p.perInstance)
	if desired < 1 {
		// Above activation there is work: a group at zero must wake even
		// when the items would not fill one instance.
		return recommend(1, model.Because(p.why.wake, model.Num(items))), nil
	}
	return recommend(desired, model.Because(p.why.size,
		model.Num(items), model.Num(items), model.Int(desired))), nil
}

var _ Policy = (*queue)(nil)
