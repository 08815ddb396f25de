package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Signals describes a group's signals to the policies built for it.
type Signals interface {
	// Index is the signal's index in Input.Values, or -1 when the group
	// has no such signal.
	Index(name string) int
	// CPU reports whether the signal is a CPU utilization (a fraction of
	// the request, 1 = 100%): the Kubernetes rules for the CPU resource
	// metric then apply in target's hpa mode.
	CPU(name string) bool
}

// IndexFunc is Signals for groups without CPU signals: it maps a name to
// its index, or -1.
type IndexFunc func(name string) int

// Index implements Signals.
func (f IndexFunc) Index(name string) int { return f(name) }

// CPU implements Signals: no signal is a CPU utilization.
func (f IndexFunc) CPU(string) bool { return false }

// New builds the policy spec describes over the group's signals.
//
// Specs are validated and defaulted when the configuration loads; New still
// checks everything its arithmetic relies on, so that a spec built some other
// way (a test, the simulator) fails here with a clear error instead of
// producing NaN or panicking at the first tick.
func New(spec config.Policy, signals Signals) (Policy, error) {
	if signals == nil {
		return nil, errors.New("no signal index")
	}
	index := signals.Index
	kinds := spec.Kinds()
	switch len(kinds) {
	case 0:
		return nil, errors.New("no policy kind set: want one of target, step, simple, queue, streaming, schedule, predictive or fixed")
	case 1:
	default:
		return nil, fmt.Errorf("several policy kinds set (%s): want exactly one", strings.Join(kinds, ", "))
	}
	// The label is config's, so validation's duplicate-name check and the
	// explanations agree on what a policy is called.
	name := spec.Label()
	var (
		p   Policy
		err error
	)
	switch {
	case spec.Target != nil:
		p, err = newTarget(name, *spec.Target, signals)
	case spec.Step != nil:
		p, err = newStep(name, *spec.Step, index)
	case spec.Simple != nil:
		p, err = newSimple(name, *spec.Simple, index)
	case spec.Queue != nil:
		p, err = newQueue(name, *spec.Queue, index)
	case spec.Streaming != nil:
		p, err = newStreaming(name, *spec.Streaming, index)
	case spec.Schedule != nil:
		p, err = newSchedule(name, *spec.Schedule)
	case spec.Predictive != nil:
		p, err = newPredictive(name, *spec.Predictive, index)
	case spec.Fixed != nil:
		p, err = newFixed(name, *spec.Fixed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kinds[0], err)
	}
	return p, nil
}

// lookup resolves a signal name to its index.
func lookup(index func(string) int, signal string) (int, error) {
	if signal == "" {
		return -1, errors.New("no signal set")
	}
	i := index(signal)
	if i < 0 {
		return -1, fmt.Errorf("unknown signal %q", signal)
	}
	return i, nil
}
