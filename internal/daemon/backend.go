package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// ErrNotFound is returned for an unknown group or instance.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned for a request that cannot be applied.
var ErrInvalid = errors.New("invalid request")

// GroupView is what the API shows of a group.
type GroupView struct {
	Name      string          `json:"name"`
	Min       int             `json:"min"`
	Max       int             `json:"max"`
	Desired   int             `json:"desired"`
	Fleet     *fleet.Status   `json:"fleet,omitempty"`
	Suspended store.Suspended `json:"suspended"`
	Decision  *DecisionBrief  `json:"last_decision,omitempty"`
	// Conditions are what is wrong now, each with its cause: signals
	// failing or stale, reads stalled past the interval, launches or
	// drains failing.
	Conditions []string `json:"conditions,omitempty"`
}

// DecisionBrief is a decision in one line.
type DecisionBrief struct {
	Time      time.Time       `json:"time"`
	Current   int             `json:"current"`
	Desired   int             `json:"desired"`
	Direction model.Direction `json:"direction"`
	Reason    string          `json:"reason"`
}

func brief(d model.Decision) *DecisionBrief {
	return &DecisionBrief{Time: d.Time, Current: d.Current, Desired: d.Desired, Direction: d.Direction, Reason: d.Reason()}
}

// Groups lists every group, in config order.
func (d *Daemon) Groups() []GroupView {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]GroupView, 0, len(d.cfg.Groups))
	for _, gc := range d.cfg.Groups {
		out = append(out, d.view(gc.Name))
	}
	return out
}

// Group shows one group.
func (d *Daemon) Group(name string) (GroupView, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.groups[name]; !ok {
		return GroupView{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return d.view(name), nil
}

// view builds a group's view. d.mu held.
func (d *Daemon) view(name string) GroupView {
	g := d.groups[name]
	eg := d.eng.Groups[g.index]
	v := GroupView{Name: name, Min: eg.Min, Max: eg.Max, Desired: d.eng.States[g.index].Desired}
	if g.rec != nil {
		st := g.status
		v.Fleet = &st
	}
	if dec, ok := d.last[name]; ok {
		v.Decision = brief(dec)
	}
	v.Conditions = d.conditions(name, d.opt.Clock.Now())
	d.st.View(func(tx *store.Tx) error {
		gs, _, err := tx.GroupState(name)
		v.Suspended = gs.Suspended
		return err
	})
	return v
}

// Instances lists a group's instances; ended ones (terminated, failed) only with all.
func (d *Daemon) Instances(group string, all bool) ([]model.Instance, error) {
	if _, err := d.Group(group); err != nil {
		return nil, err
	}
	var out []model.Instance
	err := d.st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Instances(group)
		return err
	})
	if !all {
		out = slices.DeleteFunc(out, func(in model.Instance) bool { return in.State.Ended() })
	}
	return out, err
}

// Activities are a group's recent decisions, lifecycle actions and operator
// actions.
type Activities struct {
	Decisions []store.Entry  `json:"decisions"`
	Intents   []store.Intent `json:"actions"`
	Operator  []store.Event  `json:"operator"`
}

// Activities returns the newest limit decisions, actions and operator events.
func (d *Daemon) Activities(group string, limit int) (Activities, error) {
	if _, err := d.Group(group); err != nil {
		return Activities{}, err
	}
	var a Activities
	err := d.st.View(func(tx *store.Tx) error {
		var err error
		if a.Decisions, err = tx.Decisions(group, limit); err != nil {
			return err
		}
		if a.Intents, err = tx.Intents(group, limit); err != nil {
			return err
		}
		a.Operator, err = tx.Events(group, limit)
		return err
	})
	if err != nil || len(a.Decisions) == 0 {
		return a, err
	}
	// Holds decided since the newest entry was written are in memory only.
	d.mu.Lock()
	defer d.mu.Unlock()
	if j := d.journaled[group]; j.pending > 0 {
		newest := &a.Decisions[0]
		newest.Repeats += j.pending
		newest.Last = d.decided[group]
	}
	return a, nil
}

// Explain returns the group's latest decision in full.
func (d *Daemon) Explain(group string) (model.Decision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.groups[group]; !ok {
		return model.Decision{}, fmt.Errorf("group %q: %w", group, ErrNotFound)
	}
	dec, ok := d.last[group]
	if !ok {
		return model.Decision{}, fmt.Errorf("group %q has no decision yet: %w", group, ErrNotFound)
	}
	return dec, nil
}

// ScaleResult is what a Scale did.
type ScaleResult struct {
	// Desired is the capacity set: Asked within the group's bounds.
	Desired int `json:"desired"`
	Asked   int `json:"asked"`
	// Message says why Desired is not Asked ("clamped to max 10").
	Message string `json:"message,omitempty"`
}

// Scale sets a group's desired capacity by hand, within its bounds, records
// it in the operator log and says what it set. Policies go on deciding from
// the new value.
func (d *Daemon) Scale(group string, n int) (ScaleResult, error) {
	if n < 0 {
		return ScaleResult{}, fmt.Errorf("desired %d: must be ≥ 0: %w", n, ErrInvalid)
	}
	// d.mu is held through the record too, so the log's "from → to" pairs
	// follow each other as the changes did.
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.groups[group]
	if !ok {
		return ScaleResult{}, fmt.Errorf("group %q: %w", group, ErrNotFound)
	}
	eg, st := d.eng.Groups[g.index], d.eng.States[g.index]
	now := d.opt.Clock.Now()
	from := st.Desired
	res := ScaleResult{Desired: eg.SetDesired(st, now, n), Asked: n}
	detail := fmt.Sprintf("desired %d → %d", from, res.Desired)
	if res.Desired != n {
		bound := "max"
		if n < res.Desired {
			bound = "min"
		}
		res.Message = fmt.Sprintf("clamped to %s %d", bound, res.Desired)
		detail += fmt.Sprintf(" (asked %d; %s)", n, res.Message)
	}
	d.opt.Log.Info("scaled by operator", "group", group, "from", from, "to", res.Desired, "asked", n)
	d.recordEvent(group, store.Event{Time: now, Action: "scale", Detail: detail})
	return res, nil
}

// takeOutside takes a desired count set in the group's system by someone
// else (kubectl scale, the AWS console) as the group's capacity, instead of
// fighting it: the engine's desired becomes n (within min and max), and the
// group's log says so. The policies move it from there at the next
// decisions, as they would from any capacity.
func (d *Daemon) takeOutside(group string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.groups[group]
	if !ok {
		return
	}
	eg, st := d.eng.Groups[g.index], d.eng.States[g.index]
	now := d.opt.Clock.Now()
	from := st.Desired
	to := eg.SetDesired(st, now, n)
	detail := fmt.Sprintf("desired %d → %d: set to %d in the group's system, outside ebb", from, to, n)
	if to != n {
		detail += fmt.Sprintf(" (kept within min %d and max %d)", eg.Min, eg.Max)
	}
	d.opt.Log.Warn("desired count changed outside ebb; taken as the group's capacity", "group", group, "from", from, "to", to, "outside", n)
	d.recordEvent(group, store.Event{Time: now, Action: "outside", Detail: detail})
}

// recordEvent appends an operator action to the group's log. The action has
// happened by then, so a failure to record it is logged, not returned.
func (d *Daemon) recordEvent(group string, e store.Event) {
	d.wakers.wake(group) // the loop reconciles what the operator changed now
	d.changed.mark(group)
	err := d.st.Update(func(tx *store.Tx) error {
		_, err := tx.AppendEvent(group, e)
		return err
	})
	if err != nil {
		d.opt.Log.Warn("operator action not recorded", "group", group, "action", e.Action, "err", err)
	}
}

// Processes a suspension covers.
var processes = map[string]func(*store.Suspended, bool){
	"launch":    func(s *store.Suspended, on bool) { s.Launch = on },
	"terminate": func(s *store.Suspended, on bool) { s.Terminate = on },
	"all":       func(s *store.Suspended, on bool) { s.Launch, s.Terminate = on, on },
}

// Suspend suspends (on) or resumes the named processes of a group.
func (d *Daemon) Suspend(group string, procs []string, on bool) (store.Suspended, error) {
	if _, err := d.Group(group); err != nil {
		return store.Suspended{}, err
	}
	if len(procs) == 0 {
		procs = []string{"all"}
	}
	for _, p := range procs {
		if processes[p] == nil {
			return store.Suspended{}, fmt.Errorf("process %q: must be launch, terminate or all: %w", p, ErrInvalid)
		}
	}
	action, done := "resume", "resumed"
	if on {
		action, done = "suspend", "suspended"
	}
	var out store.Suspended
	err := d.st.Update(func(tx *store.Tx) error {
		gs, _, err := tx.GroupState(group)
		if err != nil {
			return err
		}
		for _, p := range procs {
			processes[p](&gs.Suspended, on)
		}
		out = gs.Suspended
		if err := tx.PutGroupState(group, gs); err != nil {
			return err
		}
		_, err = tx.AppendEvent(group, store.Event{Time: d.opt.Clock.Now(), Action: action, Detail: done + " " + strings.Join(procs, ", ")})
		return err
	})
	d.wakers.wake(group)
	d.changed.mark(group)
	return out, err
}

// TerminateRequest is what POST …/instances/{id}/terminate asks.
type TerminateRequest struct {
	// Replace keeps desired capacity, so a replacement launches; without
	// it desired is lowered by one.
	Replace bool `json:"replace"`
	// Now ends a drain (a stuck one included) and stops the instance now.
	Now bool `json:"now"`
}

// MaxSkew is how far ahead of ebb's clock a pushed sample's time may be:
// the clock skew between machines that ebb tolerates. A sample further in
// the future is refused; kept, it would outrank every later sample.
const MaxSkew = 5 * time.Second

// Push records pushed signal values for a group. A batch with any bad value
// (an unknown or fetched signal, a value that is not finite, a time too far
// in the future or already stale) is refused whole. The samples are checked
// as PushMany checks them.
func (d *Daemon) Push(group string, t time.Time, values map[string]float64) error {
	now := d.opt.Clock.Now()
	if t.IsZero() {
		t = now
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.groups[group]
	if !ok {
		return fmt.Errorf("group %q: %w", group, ErrNotFound)
	}
	if len(values) == 0 {
		return fmt.Errorf("no values: %w", ErrInvalid)
	}
	if err := checkAhead(t, now); err != nil {
		return err
	}
	eg := d.eng.Groups[g.index]
	for _, name := range sortedKeys(values) {
		if why := sampleProblem(eg, g.cfg.Signals, name, values[name], now.Sub(t)); why != "" {
			return fmt.Errorf("signal %s: %s: %w", name, why, ErrInvalid)
		}
	}
	if err := d.push.AddMany(t, map[string]map[string]float64{group: values}); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return nil
}

// Token is the bearer token mutations need; empty refuses them all.
// A reload re-reads api.token_file, so a new token works at once and the
// old one stops working.
func (d *Daemon) Token() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.token
}

// Listen is the configured API address.
func (d *Daemon) Listen() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.API.Listen
}
