package fleet

import (
	"errors"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/registry"
)

// Registry is the service registry a group's instances register with
// (lifecycle.registry): ebb's own, which *registry.Registry is. Each
// instance registers under the group's app with its ebb instance ID.
type Registry interface {
	// Lease reads an instance's registration, or registry.ErrNotFound.
	Lease(now time.Time, app, id string) (registry.LeaseState, error)
	// TakeOut sets the instance's status override to OUT_OF_SERVICE and
	// saves it; clients stop sending it requests once they refresh. An
	// instance not registered is no error.
	TakeOut(now time.Time, app, id string) error
	// Forget cancels the instance's registration and saves that; an
	// instance not registered is no error.
	Forget(now time.Time, app, id string) error
}

var _ Registry = (*registry.Registry)(nil)

// registered says whether the group's instances are read from and
// managed through a registry. Without one (the simulator), a group's
// lifecycle.registry still delays drains by its refresh.
func (r *Reconciler) registered() bool { return r.spec.registryApp != "" && r.opt.Registry != nil }

// registryReady reports whether the registry has the instance UP; true
// when the group uses no registry.
func (r *Reconciler) registryReady(inst model.Instance) bool {
	if !r.registered() {
		return true
	}
	ls, err := r.opt.Registry.Lease(r.opt.Clock.Now(), r.spec.registryApp, inst.ID)
	if err != nil || ls.Status != registry.StatusUp {
		r.opt.Log.Debug("not UP in the registry yet", "instance", inst.ID, "status", ls.Status, "err", err)
		return false
	}
	return true
}

// registryHealth reads an in-service instance's registration: a reason to
// replace it at once (gone from the registry, or its lease lapsed while
// the registry is not preserving leases), or whether it reports DOWN, which
// counts as a failed health check.
func (r *Reconciler) registryHealth(inst model.Instance) (reason string, down bool) {
	if !r.registered() {
		return "", false
	}
	ls, err := r.opt.Registry.Lease(r.opt.Clock.Now(), r.spec.registryApp, inst.ID)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return "gone from the registry (its registration was cancelled or evicted)", false
	case err != nil:
		r.opt.Log.Warn("registry read failed", "instance", inst.ID, "err", err)
		return "", false
	case ls.Expired && !ls.SelfPreservation:
		// Under self-preservation so many leases lapsed at once that the
		// registry takes it for a partition between it and the
		// instances, not their death; replacing them all would be worse.
		return "its registry lease expired (no renewal within the lease duration)", false
	}
	return "", ls.Status == registry.StatusDown
}

// drainStarts is when a draining instance's drain action and busy checks
// begin: once clients had time to refresh their cached registry after it
// was taken OUT_OF_SERVICE.
func (r *Reconciler) drainStarts(inst model.Instance) time.Time {
	return inst.StateSince.Add(r.spec.registryRefresh)
}

// takeOut takes a draining instance out of the registry's rotation and
// reports whether clients have had time to refresh since. A failure is
// retried with backoff, as a drain request's is.
func (r *Reconciler) takeOut(inst model.Instance) (refreshed bool, err error) {
	if r.spec.registryApp == "" {
		return true, nil
	}
	now := r.opt.Clock.Now()
	refreshed = !now.Before(r.drainStarts(inst))
	if r.registered() {
		if err := r.opt.Registry.TakeOut(now, r.spec.registryApp, inst.ID); err != nil {
			return false, r.failed(r.drainRetry, inst, "registry OUT_OF_SERVICE", err)
		}
		if _, ok := r.drainRetry[inst.ID]; ok && !refreshed {
			// The retry was this call's; once refreshed, a retry is the
			// drain request's, which clears it when delivered.
			delete(r.drainRetry, inst.ID)
			inst.Condition = ""
			if err := r.put(inst); err != nil {
				return false, err
			}
		}
	}
	return refreshed, nil
}

// leaveRegistry follows an instance's move out of service in the
// registry: one being stopped is taken OUT_OF_SERVICE at once (clients
// must not wait for its lease to lapse), one that ended is forgotten (so
// the registry no longer expects its renewals). A failure is logged: the
// lease lapses by itself and the registry evicts it.
func (r *Reconciler) leaveRegistry(inst model.Instance, to model.InstanceState) {
	if !r.registered() {
		return
	}
	now := r.opt.Clock.Now()
	var err error
	switch to {
	case model.Unhealthy, model.Terminating:
		err = r.opt.Registry.TakeOut(now, r.spec.registryApp, inst.ID)
	case model.Terminated, model.Failed:
		err = r.opt.Registry.Forget(now, r.spec.registryApp, inst.ID)
	}
	if err != nil {
		r.opt.Log.Warn("registry update failed; the lease lapses by itself", "instance", inst.ID, "to", to, "err", err)
	}
}
