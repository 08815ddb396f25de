package policy

import (
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Value is a signal's value for one tick. OK is false when the value is
// missing or stale.
type Value struct {
	V  float64
	OK bool
	// Substituted is set when the value stands in for a missing one
	// (behavior.missing treat_as): policies that learn from history skip
	// it.
	Substituted bool
}

// InstanceValue is one instance's value of a signal.
type InstanceValue struct {
	// Ready is false while the instance is launching (not yet passing its
	// readiness check).
	Ready bool
	// Warm is false while the instance is younger than the group's warm-up.
	Warm bool
	Value
}

// Tolerance is the band around a ratio of 1 inside which ratio-based policies
// (target, queue) hold. Down is the fraction below 1, Up the fraction above.
type Tolerance struct {
	Up   float64
	Down float64
}

// Within reports whether ratio is inside the band [1−Down, 1+Up].
func (t Tolerance) Within(ratio float64) bool {
	return ratio >= 1-t.Down && ratio <= 1+t.Up
}

// Input is everything a policy may look at for one tick. Signals are
// addressed by the index the policy was built with.
type Input struct {
	Now time.Time
	// Current is the group's desired capacity before this decision.
	Current int
	// Ready is how many instances are serving.
	Ready int
	// Values holds each signal's group value, by index.
	Values []Value
	// PerInstance holds each signal's per-instance values, by index; nil
	// (or a nil entry) when the signal has none.
	PerInstance [][]InstanceValue
	// LastScale is when capacity last changed; zero if never.
	LastScale time.Time
	// AddedSince returns the capacity the engine added after t (scale-outs,
	// not counting scale-ins), for warm-up rules; nil means none is known.
	// It covers at least the History a policy asks for.
	AddedSince func(t time.Time) int
	Tolerance  Tolerance
	// Memory is this policy's own datapoint history, kept by the engine
	// between ticks (used by M-of-N conditions). Never nil.
	Memory *model.Datapoints
	// Profile is this policy's learned history of its signal, kept by the
	// engine between ticks and across restarts; set for Forecasters, nil
	// for other policies.
	Profile *model.Profile
}

// Historian is a policy that reads capacity changes (Input.AddedSince) as
// far back as History.
type Historian interface {
	History() time.Duration
}

// Value returns the group value of signal i.
func (in *Input) Value(i int) Value {
	if i < 0 || i >= len(in.Values) {
		return Value{}
	}
	return in.Values[i]
}

// Instances returns the per-instance values of signal i, or nil.
func (in *Input) Instances(i int) []InstanceValue {
	if i < 0 || i >= len(in.PerInstance) {
		return nil
	}
	return in.PerInstance[i]
}

// Policy recommends a capacity from signals and the group's state. A Policy
// is pure: no I/O, no clock, no goroutines; the same Input gives the same
// answer.
//
// Evaluate returns an error only when the policy cannot compute an answer
// from values that are present (for example a throughput of zero); the engine
// then applies the group's missing-data mode, as it does for missing signals.
type Policy interface {
	// Name labels the policy in explanations, e.g. "target(cpu)".
	Name() string
	// Signals lists the signal indices the policy reads. The engine applies
	// the missing-data mode instead of calling Evaluate when one is missing.
	Signals() []int
	Evaluate(in Input) (model.Recommendation, error)
}

// recommend is the common constructor for an opinion.
func recommend(desired int, r model.Reason) model.Recommendation {
	return model.Recommendation{Opinion: model.Recommend, Desired: desired, Reason: r}
}

// abstain is the common constructor for no opinion.
func abstain(r model.Reason) model.Recommendation {
	return model.Recommendation{Opinion: model.Abstain, Reason: r}
}
