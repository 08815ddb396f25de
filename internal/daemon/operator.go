package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Operator actions on one instance. Each calls into the group's reconciler
// without holding d.mu (the reconciler takes d.mu under its own lock), and
// each is recorded in the group's operator log.

// reconcilerOf returns a group's reconciler.
func (d *Daemon) reconcilerOf(group string) (*fleet.Reconciler, error) {
	d.mu.Lock()
	g, ok := d.groups[group]
	d.mu.Unlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("group %q: %w", group, ErrNotFound)
	case g.rec == nil:
		return nil, fmt.Errorf("group %q has no provider: %w", group, ErrInvalid)
	}
	return g.rec, nil
}

// fleetError maps the fleet's errors to the API's: an unknown instance is
// not found, one in the wrong state cannot be acted on.
func fleetError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fleet.ErrNoInstance):
		return fmt.Errorf("%w: %w", err, ErrNotFound)
	case errors.Is(err, fleet.ErrNotInService):
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return err
}

// Drain drains one instance of a group now; desired is unchanged, so a
// replacement is launched.
func (d *Daemon) Drain(ctx context.Context, group, id string) error {
	rec, err := d.reconcilerOf(group)
	if err != nil {
		return err
	}
	if err := fleetError(rec.Drain(ctx, id)); err != nil {
		return err
	}
	d.recordEvent(group, store.Event{Time: d.opt.Clock.Now(), Action: "drain", Instance: id, Detail: "draining; desired unchanged, a replacement launches"})
	return nil
}

// Terminate drains an instance and stops it. Without req.Replace desired
// capacity is lowered by one in the same step, under the reconciler's lock,
// so no replacement launches and no other instance is picked instead; it is
// refused when that would go below the group's minimum. req.Now stops the
// instance at once, ending a drain under way (a stuck one too).
func (d *Daemon) Terminate(ctx context.Context, group, id string, req TerminateRequest) (model.Instance, error) {
	rec, err := d.reconcilerOf(group)
	if err != nil {
		return model.Instance{}, err
	}
	effect := "desired unchanged, a replacement launches"
	lower := func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		g, ok := d.groups[group]
		if !ok {
			return fmt.Errorf("group %q: %w", group, ErrNotFound)
		}
		eg, st := d.eng.Groups[g.index], d.eng.States[g.index]
		if st.Desired-1 < eg.Min {
			return fmt.Errorf("desired %d is the group's min: terminating %s without a replacement would go below it; "+
				"pass --replace, or lower capacity.min: %w", st.Desired, id, ErrInvalid)
		}
		from := st.Desired
		to := eg.SetDesired(st, d.opt.Clock.Now(), from-1)
		effect = fmt.Sprintf("desired %d → %d", from, to)
		return nil
	}
	opt := fleet.TerminateOptions{Now: req.Now}
	if !req.Replace {
		opt.Before = lower
	}
	inst, err := rec.Terminate(ctx, id, opt)
	if err != nil {
		return inst, fleetError(err)
	}
	how := "draining"
	if req.Now {
		how = "stopped now"
	}
	d.opt.Log.Info("instance terminated by operator", "group", group, "instance", id, "how", how, "effect", effect)
	d.recordEvent(group, store.Event{Time: d.opt.Clock.Now(), Action: "terminate", Instance: id, Detail: how + "; " + effect})
	return inst, nil
}

// Protect keeps an instance from being chosen for scale-in.
func (d *Daemon) Protect(group, id string) (model.Instance, error) {
	return d.protection(group, id, "protect")
}

// Unprotect makes an instance a scale-in candidate again.
func (d *Daemon) Unprotect(group, id string) (model.Instance, error) {
	return d.protection(group, id, "unprotect")
}

func (d *Daemon) protection(group, id, action string) (model.Instance, error) {
	rec, err := d.reconcilerOf(group)
	if err != nil {
		return model.Instance{}, err
	}
	set, detail := rec.Protect, "protected from scale-in"
	if action == "unprotect" {
		set, detail = rec.Unprotect, "a scale-in candidate again"
	}
	inst, err := set(id)
	if err != nil {
		return inst, fleetError(err)
	}
	d.recordEvent(group, store.Event{Time: d.opt.Clock.Now(), Action: action, Instance: id, Detail: detail})
	return inst, nil
}
