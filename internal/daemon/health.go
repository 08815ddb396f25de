package daemon

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// signalHealth is what the daemon knows of one fetched signal's reads.
type signalHealth struct {
	ok       time.Time // last successful read
	err      string    // the latest read's error; "" when it read
	since    time.Time // when the failures in a row began
	failures int       // failed reads in a row
}

// noteReadErrors records a finished read's outcome per signal. d.mu held.
func (d *Daemon) noteReadErrors(group string, errs map[string]error) {
	now := d.opt.Clock.Now()
	hs := d.health[group]
	if hs == nil {
		hs = map[string]signalHealth{}
		d.health[group] = hs
	}
	for sig, err := range errs {
		h := hs[sig]
		if err == nil {
			h.ok, h.err, h.failures = now, "", 0
			hs[sig] = h
			continue
		}
		if h.failures == 0 {
			h.since = now
			d.opt.Log.Warn("signal read failed", "group", group, "signal", sig, "err", err)
		}
		h.err = err.Error()
		h.failures++
		hs[sig] = h
		d.metrics.readErrors.WithLabelValues(group, sig).Inc()
	}
}

// stalled says why a group is overdue for a decision, or "". d.mu held.
func (d *Daemon) stalled(group string, now time.Time) string {
	r := d.reads[group]
	if r == nil || r.finished() {
		return ""
	}
	g := d.groups[group]
	if g == nil || !now.After(d.eng.Next(g.index).Add(tick)) {
		return ""
	}
	return fmt.Sprintf("signal reads running for %s, past the group's interval; it is decided when they end (by %s at the latest)",
		model.FormatDuration(now.Sub(r.started).Round(time.Second)), r.deadline.UTC().Format(time.RFC3339))
}

// conditions are what is wrong with a group now, each with its cause:
// stalled reads, signals that fail or are missing, and the fleet's own
// conditions (failing launches and drains). d.mu held.
func (d *Daemon) conditions(group string, now time.Time) []string {
	var out []string
	if s := d.stalled(group, now); s != "" {
		out = append(out, s)
	}
	hs := d.health[group]
	failing := map[string]bool{}
	for _, sig := range sortedKeys(hs) {
		h := hs[sig]
		if h.err == "" {
			continue
		}
		failing[sig] = true
		last := "never read"
		if !h.ok.IsZero() {
			last = "last read " + model.FormatDuration(now.Sub(h.ok).Round(time.Second)) + " ago"
		}
		out = append(out, fmt.Sprintf("signal %s: %d reads failed in a row since %s (%s): %s",
			sig, h.failures, h.since.UTC().Format(time.RFC3339), last, h.err))
	}
	if dec, ok := d.last[group]; ok {
		for _, in := range dec.Inputs {
			if in.Missing && !failing[in.Name] {
				out = append(out, fmt.Sprintf("signal %s: missing or stale at the last decision; the missing-data rule applies", in.Name))
			}
		}
		// A guard (or a shared budget) holding back a scale-out the
		// policies asked for: capacity is short on purpose, and an
		// operator should see why.
		if s, ok := dec.Bound(); ok && (s.Stage == model.StageGuard || s.Stage == model.StageBudget) && s.To < s.From {
			out = append(out, fmt.Sprintf("scale-out held by a %s at the last decision: %s", s.Stage, s.Reason))
		}
	}
	if g := d.groups[group]; g != nil && g.rec != nil {
		out = append(out, g.status.Conditions...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrNotReady is returned by Ready while the daemon cannot decide.
var ErrNotReady = errors.New("not ready")

// Ready reports whether the daemon decides: nil once its first tick is
// done, as long as the decision loop keeps finishing ticks. It takes no
// lock, so it answers even when the loop is stuck holding one.
func (d *Daemon) Ready() error {
	t := d.ticked.Load()
	if t == 0 {
		return fmt.Errorf("%w: no decision made yet", ErrNotReady)
	}
	if age := d.opt.Clock.Now().Sub(time.Unix(0, t)); age > stuckAfter {
		return fmt.Errorf("%w: the decision loop is stuck: its last tick ended %s ago", ErrNotReady,
			model.FormatDuration(age.Round(time.Second)))
	}
	return nil
}
