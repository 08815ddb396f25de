package daemon

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// SampleError is one sample a PushMany refused, and why.
type SampleError struct {
	Group string `json:"group"`
	// Signal is empty when the group itself is refused, with all its
	// samples: it is unknown, or has no values.
	Signal string `json:"signal,omitempty"`
	Reason string `json:"reason"`
}

// BatchError is a PushMany refused whole: every bad sample, sorted by group
// and signal; an unknown group is named once, not once per sample. It wraps
// ErrInvalid.
type BatchError struct {
	Samples []SampleError
	// Total is how many samples the batch held.
	Total int
}

// maxNamed is how many bad samples Error names; Samples holds them all.
const maxNamed = 10

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch refused, none of its %d samples applied: ", e.Total)
	for i, s := range e.Samples {
		if i == maxNamed {
			fmt.Fprintf(&b, "; and %d more", len(e.Samples)-maxNamed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if s.Signal == "" {
			fmt.Fprintf(&b, "group %s: %s", s.Group, s.Reason)
		} else {
			fmt.Fprintf(&b, "group %s, signal %s: %s", s.Group, s.Signal, s.Reason)
		}
	}
	return b.String()
}

func (e *BatchError) Unwrap() error { return ErrInvalid }

// PushMany records pushed signal values for many groups in one call: values
// maps group → signal → value, all taken at t (zero means now). Each sample
// is checked as Push checks a group's: the group exists, the signal is a
// pushed one, the value is finite, and t is not past the signal's stale
// time. It is all or nothing: with any bad sample nothing is kept and the
// error, a *BatchError, names every bad one. A t more than MaxSkew ahead of
// ebb's clock, or no groups at all, refuses the batch with a plain
// ErrInvalid. d.mu is taken once for the whole batch.
func (d *Daemon) PushMany(t time.Time, values map[string]map[string]float64) error {
	now := d.opt.Clock.Now()
	if len(values) == 0 {
		return fmt.Errorf("no groups: %w", ErrInvalid)
	}
	if t.IsZero() {
		t = now
	}
	if err := checkAhead(t, now); err != nil {
		return err
	}
	age := now.Sub(t)
	var bad []SampleError
	total := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	for group, vals := range values {
		total += len(vals)
		g, ok := d.groups[group]
		switch {
		case !ok:
			bad = append(bad, SampleError{Group: group, Reason: "no such group"})
			continue
		case len(vals) == 0:
			bad = append(bad, SampleError{Group: group, Reason: "no values"})
			continue
		}
		eg := d.eng.Groups[g.index]
		for name, v := range vals {
			if reason := sampleProblem(eg, g.cfg.Signals, name, v, age); reason != "" {
				bad = append(bad, SampleError{Group: group, Signal: name, Reason: reason})
			}
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b SampleError) int {
			return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Signal, b.Signal))
		})
		return &BatchError{Samples: bad, Total: total}
	}
	// Still under d.mu, so no reload drops a group between its check and
	// its values being kept.
	if err := d.push.AddMany(t, values); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return nil
}

// sampleProblem says what is wrong with one pushed sample of a group, taken
// age ago, or "" when nothing is. d.mu held.
func sampleProblem(eg *engine.Group, sigs map[string]config.Signal, name string, v float64, age time.Duration) string {
	i, ok := eg.SignalIndex(name)
	if !ok {
		return "no such signal"
	}
	if !eg.Pushed(i) {
		return "not a pushed signal: ebb computes it (expr)"
	}
	sig := sigs[name]
	switch {
	case sig.Read.IsSet():
		return fmt.Sprintf("not a pushed signal: ebb reads it (%s)", sig.Read.Kind)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprintf("%v is not a finite number", v)
	}
	if stale := sig.Stale.D(); stale > 0 && age > stale {
		return fmt.Sprintf("the time is %s old, past the signal's stale time %s (it would count as missing)",
			model.FormatDuration(age.Round(time.Millisecond)), model.FormatDuration(stale))
	}
	return ""
}

// checkAhead refuses a sample time more than MaxSkew ahead of now.
func checkAhead(t, now time.Time) error {
	if ahead := t.Sub(now); ahead > MaxSkew {
		return fmt.Errorf("time %s is %s ahead of ebb's clock (%s); at most %s of clock skew is allowed: %w",
			t.UTC().Format(time.RFC3339Nano), model.FormatDuration(ahead.Round(time.Millisecond)),
			now.UTC().Format(time.RFC3339Nano), model.FormatDuration(MaxSkew), ErrInvalid)
	}
	return nil
}
