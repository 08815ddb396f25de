package policy

import (
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// fixed always recommends the same capacity.
type fixed struct {
	name    string
	desired int
	why     string
}

func newFixed(name string, c config.Fixed) (*fixed, error) {
	if c.Desired < 0 {
		return nil, fmt.Errorf("desired %d: must be ≥ 0", c.Desired)
	}
	return &fixed{
		name:    name,
		desired: c.Desired,
		why:     fill("fixed at {n}", "{n}", fmt.Sprint(c.Desired)),
	}, nil
}

func (p *fixed) Name() string   { return p.name }
func (p *fixed) Signals() []int { return nil }

func (p *fixed) Evaluate(Input) (model.Recommendation, error) {
	return recommend(p.desired, model.Because(p.why)), nil
}

var _ Policy = (*fixed)(nil)
