package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// NewCapacity returns a reconciler for a group whose provider's system owns
// the instances (provider.Capacity: a Kubernetes workload, an Auto Scaling
// group, commands). The lifecycle is the one local instances have — a
// recorded intent before each action, drains with their busy probe,
// heartbeat and timeout, health checks, operator actions — with three
// differences:
//
//   - Each reconcile first observes the system and records what it runs:
//     instances it started are recorded as launching (in service once the
//     system or the ready probe says so), instances it removed on its own as
//     terminated.
//   - Scale-out sets the system's desired count, to ebb's desired plus the
//     instances still draining (the system counts them until they are
//     removed); the system launches them.
//   - An instance ebb stops is removed from the system with the count
//     lowered by one (Remove), after its drain; a Picker's own victims are
//     drained instead of the selection rule's.
//
// A desired count someone else set is not fought: Status.Outside reports
// it, for the caller to take as the group's capacity.
func NewCapacity(spec Spec, c provider.Capacity, st *store.Store, opt Options) *Reconciler {
	a := &capacityProvider{cap: c, expect: -1, saved: -1}
	r := New(spec, a, st, opt)
	r.cap = a
	r.immediate = immediate(c)
	return r
}

// capacityProvider drives a capacity provider through the reconciler's
// instance provider contract: Terminate removes, Alive reads the
// reconcile's observation, List observes.
type capacityProvider struct {
	cap provider.Capacity
	obs provider.Observed
	// seen indexes the observation's instances by ID (into
	// obs.Instances); nil before the first. An observation listing the
	// same IDs in the same order as the last (ids, a copy: a provider may
	// reuse what it returned), as most do, keeps it as it is; gone says
	// an instance was taken out of it since (Terminate), so the next one
	// builds it anew.
	seen map[string]int
	ids  []string
	gone bool
	// expect is the system's desired count as ebb last left it; -1 before
	// the first observation. A different one was set by someone else.
	// saved is the one recorded in the group's state (-1: none read yet).
	expect, saved int
	// hooked are the instances the system is removing on its own and
	// waits on (provider.Hooked): drained by ebb, then let go.
	hooked map[string]bool
	// known is observeCapacity's set of recorded instances, kept to be
	// reused; built only when an observed instance has no record.
	known map[string]bool
}

// reasonHook is the reason of an instance the system removes on its own
// behind a lifecycle hook: ebb drains it, heartbeating, then completes the
// hook instead of removing it.
const reasonHook = "the system is removing it (lifecycle hook): draining first"

var errLaunch = errors.New("a capacity provider's system launches its own instances")

func (a *capacityProvider) Launch(context.Context, provider.LaunchRequest) (model.Instance, error) {
	return model.Instance{}, errLaunch
}

// Terminate removes the instance, lowering the system's count with it; one
// the system removes itself behind a lifecycle hook is let go (the hook
// completed with Continue), the count unchanged.
func (a *capacityProvider) Terminate(ctx context.Context, inst model.Instance) error {
	if a.hooked[inst.ID] {
		if err := a.cap.(provider.Hooked).Complete(ctx, inst.ID, provider.Continue); err != nil {
			return fmt.Errorf("complete the lifecycle hook of %s: %w", inst.ID, err)
		}
		delete(a.hooked, inst.ID)
		return nil
	}
	if err := a.cap.Remove(ctx, []provider.Victim{{ID: inst.ID}}); err != nil {
		return err
	}
	if in, ok := a.find(inst.ID); ok && !in.Leaving && a.expect > 0 {
		a.expect--
	}
	delete(a.seen, inst.ID)
	a.gone = true
	return nil
}

// Alive reports whether the last observation holds the instance.
func (a *capacityProvider) Alive(ctx context.Context, inst model.Instance) (bool, error) {
	if a.seen == nil {
		if _, err := a.observe(ctx); err != nil {
			return false, err
		}
	}
	_, ok := a.seen[inst.ID]
	return ok, nil
}

// List observes the system, for Adopt.
func (a *capacityProvider) List(ctx context.Context, group string) ([]model.Instance, error) {
	obs, err := a.observe(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.Instance, 0, len(obs.Instances))
	for _, in := range obs.Instances {
		if !in.Leaving {
			out = append(out, model.Instance{ID: in.ID, Group: group, Addr: in.Addr, Zone: in.Zone})
		}
	}
	return out, nil
}

func (a *capacityProvider) observe(ctx context.Context) (provider.Observed, error) {
	obs, err := a.cap.Observe(ctx)
	if err != nil {
		return obs, err
	}
	same := a.seen != nil && !a.gone && slices.EqualFunc(a.ids, obs.Instances,
		func(id string, in provider.Instance) bool { return id == in.ID })
	a.obs = obs
	if same {
		return obs, nil
	}
	if a.seen == nil {
		a.seen = make(map[string]int, len(obs.Instances))
	}
	clear(a.seen) // reused: a reconcile observes at each run
	a.ids = a.ids[:0]
	for i, in := range obs.Instances {
		a.seen[in.ID] = i
		a.ids = append(a.ids, in.ID)
	}
	a.gone = false
	return obs, nil
}

// find returns the observed instance id.
func (a *capacityProvider) find(id string) (provider.Instance, bool) {
	i, ok := a.seen[id]
	if !ok {
		return provider.Instance{}, false
	}
	return a.obs.Instances[i], true
}

// ready reports whether the system counts the observed instance id ready.
func (a *capacityProvider) ready(id string) bool {
	in, _ := a.find(id)
	return in.Ready
}

// draining counts the instances ebb drains that the system still counts.
func (a *capacityProvider) draining(insts []model.Instance) int {
	n := 0
	for i := range insts {
		if in := &insts[i]; in.State == model.Draining {
			if s, ok := a.find(in.ID); ok && !s.Leaving {
				n++
			}
		}
	}
	return n
}

// observeCapacity observes the system at the start of a reconcile and
// records what changed there: new instances, addresses assigned, instances
// the system removed or lost. It reports a desired count someone else set.
func (r *Reconciler) observeCapacity(ctx context.Context) error {
	a := r.cap
	cctx, cancel := r.call(ctx)
	done := r.observed("observe")
	obs, err := a.observe(cctx)
	done(err)
	cancel()
	if err != nil {
		return fmt.Errorf("observe group %s: %w", r.spec.Group, err)
	}
	if a.hooked == nil {
		a.hooked = map[string]bool{}
	}
	if len(a.hooked) > 0 {
		clear(a.hooked)
	}
	if h, ok := a.cap.(provider.Hooked); ok {
		cctx, cancel := r.call(ctx)
		done := r.observed("hooks")
		ids, err := h.Pending(cctx)
		done(err)
		cancel()
		if err != nil {
			return fmt.Errorf("list the lifecycle hooks of group %s: %w", r.spec.Group, err)
		}
		for _, id := range ids {
			a.hooked[id] = true
		}
	}
	r.outside = nil
	if a.expect < 0 {
		// A restart: the count ebb left the system at, if it knows it.
		if err := r.st.View(func(tx *store.Tx) error {
			gs, _, err := tx.GroupState(r.spec.Group)
			if gs.System != nil {
				a.expect, a.saved = *gs.System, *gs.System
			}
			return err
		}); err != nil {
			return fmt.Errorf("read the state of %s: %w", r.spec.Group, err)
		}
	}
	if a.expect >= 0 && obs.Desired != a.expect {
		n := obs.Desired
		r.outside = &n
		r.opt.Log.Warn("desired count changed outside ebb; taking it as the group's capacity", "from", a.expect, "to", obs.Desired)
	}
	a.expect = obs.Desired
	now := r.opt.Clock.Now()
	var letGo []string // hooks on instances ebb has drained and removed already
	defer func() {
		for _, id := range letGo {
			cctx, cancel := r.call(ctx)
			done := r.observed("complete")
			err := a.cap.(provider.Hooked).Complete(cctx, id, provider.Continue)
			done(err)
			cancel()
			if err != nil {
				r.opt.Log.Warn("complete the lifecycle hook of an instance ebb removed", "instance", id, "err", err)
			}
		}
	}()
	// What changed is worked out from the records, and written only when
	// something did: a settled group's reconcile writes nothing.
	var puts []model.Instance
	var fresh []string
	all, err := r.instances()
	if err != nil {
		return err
	}
	recorded := 0 // observed instances with a record
	for i := range all {
		cur := &all[i] // the kept record, only read: a change is made to a copy
		in, ok := a.find(cur.ID)
		if ok {
			recorded++
		}
		if cur.State.Ended() {
			if a.hooked[cur.ID] {
				letGo = append(letGo, cur.ID)
			}
			continue
		}
		var to model.InstanceState // "": only the address or zone changed
		var reason string
		switch {
		case a.hooked[cur.ID] && (cur.State == model.InService || cur.State == model.Launching):
			// The system asks before it removes: drained like ebb's own.
			to, reason = model.Draining, reasonHook
		case a.hooked[cur.ID]:
			continue // already draining or stopping
		case !ok:
			to, reason = model.Terminated, "gone from the system"
			if cur.State == model.Launching || cur.State == model.Pending {
				to, reason = model.Failed, "gone from the system before it was ready"
			}
		case in.Leaving && cur.State != model.Terminating:
			to, reason = model.Terminated, "removed by the system"
		case in.Addr != cur.Addr || in.Zone != cur.Zone:
		default:
			continue
		}
		rec := own(*cur)
		if to != "" {
			r.move(&rec, to, reason)
		} else {
			rec.Addr, rec.Zone = in.Addr, in.Zone
		}
		puts = append(puts, rec)
	}
	var known map[string]bool
	if recorded < len(obs.Instances) {
		// Some observed instance has no record (most reconciles find
		// none, and skip building the set).
		if a.known == nil {
			a.known = map[string]bool{}
		}
		known = a.known
		clear(known)
		for _, rec := range all {
			known[rec.ID] = true
		}
	}
	for _, in := range obs.Instances {
		if known == nil || known[in.ID] || in.Leaving {
			continue
		}
		fresh = append(fresh, in.ID)
		launched := in.LaunchedAt
		if launched.IsZero() {
			launched = now
		}
		rec := model.Instance{ID: in.ID, Group: r.spec.Group, Addr: in.Addr, Zone: in.Zone,
			State: model.Launching, Protected: r.spec.Protect || in.Protected,
			LaunchedAt: launched, StateSince: now, Reason: "launched by the system"}
		r.opt.Log.Info("instance", "instance", in.ID, "from", model.Pending, "to", model.Launching, "reason", rec.Reason)
		puts = append(puts, rec)
	}
	if len(puts) > 0 {
		err := r.update(func(tx *txn) error {
			for _, rec := range puts {
				if err := tx.PutInstance(rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record what the system of %s did: %w", r.spec.Group, err)
		}
	}
	if r.spec.Protect {
		if err := r.protectInSystem(ctx, fresh, true); err != nil {
			r.opt.Log.Warn("protect new instances in the system", "err", err)
		}
	}
	return nil
}

// scaleOutCapacity raises the system's desired count to ebb's desired plus
// the instances still draining, within the system's own max.
func (r *Reconciler) scaleOutCapacity(ctx context.Context, insts []model.Instance, desired int) error {
	a := r.cap
	target := desired + a.draining(insts)
	if a.obs.Max >= 0 && target > a.obs.Max {
		r.opt.Log.Warn("the system's max bounds desired", "max", a.obs.Max, "wanted", target)
		target = a.obs.Max
	}
	if target <= a.expect {
		return nil
	}
	cctx, cancel := r.call(ctx)
	done := r.observed("set_desired")
	err := a.cap.SetDesired(cctx, target)
	done(err)
	cancel()
	if err != nil {
		r.failedLaunch(fmt.Errorf("set desired %d: %w", target, err))
		return nil
	}
	r.launchRetry = nil
	r.opt.Log.Info("desired count set", "from", a.expect, "to", target)
	a.expect = target
	return nil
}

// terminateOp names a terminate for Observer.ProviderCall: terminate for
// an instance provider; for a capacity provider, remove (Remove), or
// complete when it lets the system go on behind a lifecycle hook.
func (r *Reconciler) terminateOp(id string) string {
	switch {
	case r.cap == nil:
		return "terminate"
	case r.cap.hooked[id]:
		return "complete"
	}
	return "remove"
}

// heartbeatHook keeps a lifecycle hook waiting while ebb drains the
// instance behind it, once per drain check.
func (r *Reconciler) heartbeatHook(ctx context.Context, inst *model.Instance) error {
	if r.cap == nil || !r.cap.hooked[inst.ID] {
		return nil
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	done := r.observed("heartbeat")
	err := r.cap.cap.(provider.Hooked).Heartbeat(cctx, inst.ID)
	done(err)
	return err
}

// systemDrainer returns the capacity provider's own drain, when its system
// drains instances (provider.Drainer).
func (r *Reconciler) systemDrainer() (provider.Drainer, bool) {
	if r.cap == nil {
		return nil, false
	}
	d, ok := r.cap.cap.(provider.Drainer)
	return d, ok && d.Drains()
}

// hooked reports whether the system waits on a lifecycle hook for id.
func (r *Reconciler) hooked(id string) bool { return r.cap != nil && r.cap.hooked[id] }

// hookExpiring reports whether the lifecycle hook the system waits on for
// id ends within a drain check from now (provider.Deadliner).
func (r *Reconciler) hookExpiring(id string, now time.Time) bool {
	if !r.hooked(id) {
		return false
	}
	d, ok := r.cap.cap.(provider.Deadliner)
	if !ok {
		return false
	}
	end := d.Deadline(id)
	return !end.IsZero() && !now.Before(end.Add(-r.spec.checkEvery()))
}

// saveExpect records the count ebb left the system at when it changed, so
// a restart tells a count set meanwhile by someone else from ebb's own.
// Any write of the reconciler's records it with what it writes
// (carryExpect): this writes it only when none did since it changed.
func (r *Reconciler) saveExpect() error {
	a := r.cap
	if a == nil || a.expect < 0 || a.expect == a.saved {
		return nil
	}
	if err := r.update(func(*txn) error { return nil }); err != nil {
		return fmt.Errorf("record the system's count of %s: %w", r.spec.Group, err)
	}
	return nil
}

// carryExpect writes the system's count in tx when it changed since it
// was last recorded, and returns it (-1: unchanged). Carried by the
// reconciler's next write (the finish of the removal that lowered it,
// say), it costs no transaction of its own, and is on disk with what
// changed it rather than only at the end of the reconcile.
func (r *Reconciler) carryExpect(tx *txn) (int, error) {
	a := r.cap
	if a == nil || a.expect < 0 || a.expect == a.saved {
		return -1, nil
	}
	n := a.expect
	gs, _, err := tx.GroupState(r.spec.Group)
	if err != nil {
		return -1, err
	}
	gs.System = &n
	if err := tx.PutGroupState(r.spec.Group, gs); err != nil {
		return -1, err
	}
	return n, nil
}
