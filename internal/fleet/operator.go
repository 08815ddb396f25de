package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// ErrNoInstance is wrapped by Drain, Terminate, Protect and Unprotect for an
// instance ID the group does not have.
var ErrNoInstance = errors.New("no such instance")

// ErrNotInService is wrapped by Drain and Terminate for an instance whose
// state does not allow the action.
var ErrNotInService = errors.New("instance is not in service")

// Drain drains one instance now, as an operator asked. The group's
// desired capacity is unchanged, so a replacement is launched.
func (r *Reconciler) Drain(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, err := r.get(id)
	if err != nil {
		return err
	}
	if inst.State != model.InService {
		return fmt.Errorf("%s is %s: %w", id, inst.State, ErrNotInService)
	}
	return r.startDrain(ctx, inst, "drained by operator")
}

// TerminateOptions say how Terminate stops an instance.
type TerminateOptions struct {
	// Now stops the instance now, whatever its state (it ends a stuck
	// drain); otherwise it is drained.
	Now bool
	// Before runs under the reconciler's lock once the instance is checked
	// and before anything changes; an error aborts with nothing changed.
	// The daemon lowers the group's desired capacity here, so no reconcile
	// sees the instance gone and desired unchanged.
	Before func() error
}

// Terminate stops one instance as an operator asked and returns its record
// afterwards. Without Now, an instance launching or in service is drained
// (reason "terminated by operator"); one already draining is refused. With
// Now, any live instance (launching, in service, draining, terminating) is
// terminated at once (reason "terminated now by operator"). An unknown ID
// wraps ErrNoInstance; a state that does not allow it wraps
// ErrNotInService.
func (r *Reconciler) Terminate(ctx context.Context, id string, opt TerminateOptions) (model.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, err := r.get(id)
	if err != nil {
		return inst, err
	}
	switch {
	case !opt.Now && inst.State == model.Draining:
		return inst, fmt.Errorf("%s is already draining; --now stops it now: %w", id, ErrNotInService)
	case !opt.Now && inst.State != model.InService && inst.State != model.Launching,
		opt.Now && inst.State != model.InService && inst.State != model.Launching &&
			inst.State != model.Draining && inst.State != model.Terminating:
		return inst, fmt.Errorf("%s is %s: %w", id, inst.State, ErrNotInService)
	}
	if opt.Before != nil {
		if err := opt.Before(); err != nil {
			return inst, fmt.Errorf("terminate %s: %w", id, err)
		}
	}
	if !opt.Now {
		if err := r.startDrain(ctx, inst, "terminated by operator"); err != nil {
			return inst, err
		}
		return r.get(id)
	}
	if inst.State == model.Draining {
		r.drainEnded(&inst, drainOperator)
	}
	delete(r.termRetry, id)
	inst.Condition = ""
	r.move(&inst, model.Terminating, "terminated now by operator")
	stopErr := r.stop(ctx, &inst)
	got, err := r.get(id)
	if err != nil {
		return inst, err
	}
	if stopErr != nil {
		return got, fmt.Errorf("%w (recorded; retried with backoff)", stopErr)
	}
	return got, nil
}

// Protect keeps an instance from being chosen for scale-in; the mark is
// recorded and survives restarts.
func (r *Reconciler) Protect(id string) (model.Instance, error) {
	return r.change(id, func(in *model.Instance) { in.Protected = true })
}

// protectInSystem sets a capacity provider's own scale-in protection
// (provider.Protector), so the system does not pick what ebb keeps.
func (r *Reconciler) protectInSystem(ctx context.Context, ids []string, on bool) error {
	if r.cap == nil || len(ids) == 0 {
		return nil
	}
	p, ok := r.cap.cap.(provider.Protector)
	if !ok {
		return nil
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	done := r.observed("protect")
	err := p.SetProtected(cctx, ids, on)
	done(err)
	if err != nil {
		return fmt.Errorf("set scale-in protection of %v in the system: %w", ids, err)
	}
	return nil
}

// Unprotect lets scale-in choose the instance again (after an abandoned
// drain, say).
func (r *Reconciler) Unprotect(id string) (model.Instance, error) {
	return r.change(id, func(in *model.Instance) { in.Protected = false })
}

// change applies f to an instance's record under the lock and records it.
func (r *Reconciler) change(id string, f func(*model.Instance)) (model.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, err := r.get(id)
	if err != nil {
		return inst, err
	}
	before := inst.Protected
	f(&inst)
	if inst.Protected != before {
		if err := r.protectInSystem(context.Background(), []string{inst.ID}, inst.Protected); err != nil {
			return inst, err
		}
	}
	return inst, r.put(inst)
}

// get reads one of the group's instances, wrapping ErrNoInstance when it
// has none with that ID.
func (r *Reconciler) get(id string) (model.Instance, error) {
	inst, ok, err := r.record(id)
	if err != nil {
		return inst, fmt.Errorf("read %s: %w", id, err)
	}
	if !ok {
		return inst, fmt.Errorf("group %s has no instance %q: %w", r.spec.Group, id, ErrNoInstance)
	}
	return inst, nil
}

// Update swaps the group's compiled lifecycle and provider (a reloaded
// configuration) while keeping what the reconciler has learned: launch
// backoff, health-check counts, drain and terminate retries, drain checks.
// The new spec applies to instances already under way: a draining
// instance is held to the new drain timeout, counted from when its drain
// began. A launch backoff already running keeps its current delays until a
// launch succeeds. The spec must be for the same group.
func (r *Reconciler) Update(spec Spec, prov any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if spec.Group != r.spec.Group {
		return fmt.Errorf("update reconciler of group %s with the spec of group %s", r.spec.Group, spec.Group)
	}
	switch p := prov.(type) {
	case provider.Capacity:
		if r.cap == nil {
			return fmt.Errorf("group %s: a local provider cannot become a capacity provider while ebb runs; restart ebb with the new config", spec.Group)
		}
		r.cap.cap = p
	case Provider:
		if r.cap != nil {
			return fmt.Errorf("group %s: a capacity provider cannot become a local provider while ebb runs; restart ebb with the new config", spec.Group)
		}
		r.prov = p
	default:
		return fmt.Errorf("group %s: provider %T is neither a capacity nor an instance provider", spec.Group, prov)
	}
	r.spec = spec
	return nil
}
