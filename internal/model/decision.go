package model

import (
	"fmt"
	"strings"
	"time"
)

// Direction says which way a decision moves capacity.
type Direction int8

// Directions.
const (
	Hold Direction = iota
	Up
	Down
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "hold"
	}
}

// MarshalText renders the direction as "up", "down" or "hold".
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "up", "down" or "hold".
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "up":
		*d = Up
	case "down":
		*d = Down
	case "hold":
		*d = Hold
	default:
		return fmt.Errorf("direction %q: want up, down or hold", b)
	}
	return nil
}

// DirectionOf compares a proposed capacity with the current one.
func DirectionOf(current, proposed int) Direction {
	switch {
	case proposed > current:
		return Up
	case proposed < current:
		return Down
	default:
		return Hold
	}
}

// Opinion says whether a policy has something to say this tick.
type Opinion int8

// Opinions. A policy abstains when its condition does not hold (a step or simple
// policy below its threshold, a schedule outside its windows); abstaining
// policies neither push capacity up nor block a scale-in.
const (
	Abstain Opinion = iota
	Recommend
)

// MarshalText renders the opinion as "recommend" or "abstain".
func (o Opinion) MarshalText() ([]byte, error) {
	if o == Recommend {
		return []byte("recommend"), nil
	}
	return []byte("abstain"), nil
}

// UnmarshalText reads "recommend" or "abstain".
func (o *Opinion) UnmarshalText(b []byte) error {
	switch string(b) {
	case "recommend":
		*o = Recommend
	case "abstain":
		*o = Abstain
	default:
		return fmt.Errorf("opinion %q: must be recommend or abstain", b)
	}
	return nil
}

// Bounds are capacity limits a policy imposes for now (a schedule window's min
// and max). Zero-valued fields impose nothing.
type Bounds struct {
	Min    int  `json:"min,omitempty"`
	Max    int  `json:"max,omitempty"`
	HasMin bool `json:"-"`
	HasMax bool `json:"-"`
}

// Recommendation is one policy's answer for one tick.
type Recommendation struct {
	Policy  string  `json:"policy"`
	Opinion Opinion `json:"opinion"`
	Desired int     `json:"desired"`
	Reason  Reason  `json:"reason"`
	Bounds  Bounds  `json:"bounds,omitzero"`
}

// Abstained reports whether the policy had no opinion.
func (r Recommendation) Abstained() bool { return r.Opinion == Abstain }

// SignalValue is one input to a decision, as the engine saw it.
type SignalValue struct {
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Missing bool    `json:"missing,omitempty"`
	// Substituted is set when the value was missing and replaced per the
	// group's missing-data mode (treat_as).
	Substituted bool `json:"substituted,omitempty"`
}

// Stage names a behavior step that can change or bind a decision.
type Stage string

// The behavior stages, in the order the engine applies them.
const (
	StageMissing       Stage = "missing"
	StageCombine       Stage = "combine"
	StageDatapoints    Stage = "datapoints"
	StageStabilization Stage = "stabilization"
	StageRateLimit     Stage = "rate_limit"
	StageCooldown      Stage = "cooldown"
	StageGuard         Stage = "guard"
	StageClamp         Stage = "clamp"
	StageBudget        Stage = "budget"
)

// Step records one behavior stage that changed the proposed capacity.
type Step struct {
	Stage  Stage  `json:"stage"`
	From   int    `json:"from"`
	To     int    `json:"to"`
	Reason Reason `json:"reason"`
}

// Decision is the engine's answer for one group at one time: the new desired
// capacity and everything that explains it.
type Decision struct {
	Group   string    `json:"group"`
	Time    time.Time `json:"time"`
	Current int       `json:"current"`
	Desired int       `json:"desired"`
	// Min and Max are the capacity bounds in force: the group's, or an open
	// schedule window's.
	Min       int              `json:"min"`
	Max       int              `json:"max"`
	Direction Direction        `json:"direction"`
	Inputs    []SignalValue    `json:"inputs"`
	Policies  []Recommendation `json:"policies"`
	// Proposed is the capacity the policies asked for once combined, before
	// any behavior stage.
	Proposed int    `json:"proposed"`
	Combined Reason `json:"combined_reason"`
	// Decider is the index in Policies of the policy whose recommendation
	// became the proposal, or -1 when none did (every policy abstained, or
	// only forecasts asked to scale in).
	Decider int    `json:"decider"`
	Steps   []Step `json:"steps"`
	// Notes are judgements made at this evaluation that did not change the
	// number themselves: a scale-out judged effective or not, a block
	// lifted. They are not the decision's reason.
	Notes []Reason `json:"notes,omitempty"`
}

// Bound returns the last stage that changed the proposal, if any: the limit
// that bound the result.
func (d *Decision) Bound() (Step, bool) {
	if len(d.Steps) == 0 {
		return Step{}, false
	}
	return d.Steps[len(d.Steps)-1], true
}

// Reason is the one-line explanation of the decision: the limit that bound it
// or, when nothing did, the deciding policy and its reason.
func (d *Decision) Reason() string {
	if s, ok := d.Bound(); ok {
		return s.Reason.String()
	}
	if d.Decider >= 0 && d.Decider < len(d.Policies) {
		p := d.Policies[d.Decider]
		why := p.Reason.String()
		if strings.HasPrefix(why, p.Policy+": ") || strings.HasPrefix(why, p.Policy+" ") {
			return why // a policy named after its signal: say the name once
		}
		return p.Policy + ": " + why
	}
	return d.Combined.String()
}
