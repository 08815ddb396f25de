package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Engine evaluates many groups on their own intervals and applies the budgets
// they share. It owns each group's State and a reusable Decision per group.
type Engine struct {
	Groups []*Group
	States []*State

	budgets   []budget
	decisions []model.Decision
	next      []time.Time
	due       []bool
	out       []*model.Decision
}

type budget struct {
	name    string
	max     float64
	weights []float64 // by group index; 0: not a member
}

// New compiles every group and budget of a validated configuration.
func New(f *config.File) (*Engine, error) {
	e := &Engine{}
	index := map[string]int{}
	for _, gc := range f.Groups {
		g, err := Compile(gc)
		if err != nil {
			return nil, err
		}
		index[g.Name] = len(e.Groups)
		e.Groups = append(e.Groups, g)
		e.States = append(e.States, NewState(g))
	}
	for _, bc := range f.Budgets {
		b := budget{name: bc.Name, max: bc.Max, weights: make([]float64, len(e.Groups))}
		for name, w := range bc.Groups {
			i, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("budget %s: unknown group %q", bc.Name, name)
			}
			b.weights[i] = w
		}
		e.budgets = append(e.budgets, b)
	}
	n := len(e.Groups)
	e.decisions = make([]model.Decision, n)
	e.next = make([]time.Time, n)
	e.due = make([]bool, n)
	return e, nil
}

// Due reports whether group i is due for evaluation at now.
func (e *Engine) Due(i int, now time.Time) bool { return !now.Before(e.next[i]) }

// Step evaluates every group due at now (each group is due once per its
// interval, and at the first Step), applies budgets across groups, commits
// the decisions and returns them. obs(i) supplies group i's observation; it
// is called only for due groups. The returned decisions are owned by the
// Engine and valid until the next Step.
func (e *Engine) Step(now time.Time, obs func(i int) Observation) []*model.Decision {
	return e.StepReady(now, func(i int) (Observation, bool) { return obs(i), true })
}

// Next is when group i is next due.
func (e *Engine) Next(i int) time.Time { return e.next[i] }

// StepReady is Step for groups whose observations may not be ready: a due
// group for which obs answers false is not evaluated and stays due, so the
// next StepReady evaluates it once its observation is there. The daemon
// uses it so that a group whose sources are slow never holds up the others.
func (e *Engine) StepReady(now time.Time, obs func(i int) (Observation, bool)) []*model.Decision {
	for i := range e.Groups {
		e.Evaluate(i, now, obs)
	}
	return e.Settle()
}

// Evaluate is StepReady's first half for group i alone: if the group is
// due at now and obs(i) answers, it evaluates the group into its decision.
// Calls for different groups may run at once (each touches only its own
// group's state and decision); Settle must follow once every group's call
// has returned. Together, Evaluate for every group in any order and then
// Settle decide exactly as StepReady.
func (e *Engine) Evaluate(i int, now time.Time, obs func(i int) (Observation, bool)) {
	e.due[i] = false
	if !e.Due(i, now) {
		return
	}
	o, ok := obs(i)
	if !ok {
		return
	}
	o.Now = now
	e.Groups[i].Evaluate(e.States[i], o, &e.decisions[i])
	e.next[i] = now.Add(e.Groups[i].Interval)
	e.due[i] = true
}

// Settle is StepReady's second half: it applies the budgets across the
// groups evaluated since the last Settle, commits their decisions and
// returns them in the groups' order. The decisions are owned by the Engine
// and valid until the next Settle.
func (e *Engine) Settle() []*model.Decision {
	for _, b := range e.budgets {
		e.applyBudget(b)
	}
	e.out = e.out[:0]
	for i := range e.Groups {
		if d := e.Commit(i); d != nil {
			e.out = append(e.out, d)
		}
	}
	return e.out
}

// Budgeted reports whether budgets span the groups: then a group's decision
// depends on the others', and only Settle may commit decisions, once every
// group's Evaluate of the step has returned.
func (e *Engine) Budgeted() bool { return len(e.budgets) > 0 }

// Commit commits group i's decision if Evaluate evaluated it since the
// last commit, and returns it (nil if there was none). Without budgets
// (Budgeted is false) a group's decision is its own: Evaluate then Commit
// of one group may run while other groups' do, in any order, and decide
// exactly as StepReady. The decision is valid until group i's next
// Evaluate.
func (e *Engine) Commit(i int) *model.Decision {
	if !e.due[i] {
		return nil
	}
	e.due[i] = false
	e.Groups[i].Commit(e.States[i], &e.decisions[i])
	return &e.decisions[i]
}

// applyBudget caps scale-outs so the members' total stays within the budget.
// Capacity that stays counts first; growth is granted in the order groups
// appear in the configuration. A budget never forces a scale-in and never
// takes a group below its minimum.
func (e *Engine) applyBudget(b budget) {
	used := 0.0
	for i, w := range b.weights {
		if w <= 0 {
			continue
		}
		if e.due[i] {
			d := &e.decisions[i]
			used += w * float64(min(d.Current, d.Desired))
		} else {
			used += w * float64(e.States[i].Desired)
		}
	}
	for i, w := range b.weights {
		if w <= 0 || !e.due[i] {
			continue
		}
		d := &e.decisions[i]
		if d.Desired <= d.Current {
			continue
		}
		room := math.Floor((b.max - used) / w)
		allowed := d.Current + int(max(room, 0))
		allowed = max(allowed, d.Min)
		if d.Desired > allowed {
			d.Desired = step(d, model.StageBudget, d.Desired, allowed, model.Because(
				"budget %v allows %v (%v of %v in use)", model.Str(b.name), model.Int(allowed),
				model.Num(used), model.Num(b.max)))
			d.Direction = model.DirectionOf(d.Current, d.Desired)
		}
		used += w * float64(d.Desired-d.Current)
	}
}
