package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Provider is what the reconciler needs from where instances run. A
// provider that can also signal instances (provider.Signaler) supports
// signal drains; one that can find an instance by ID (Finder) lets a
// restarted ebb adopt a launch a crash interrupted.
type Provider interface {
	provider.Launcher
	provider.Terminator
	provider.Checker
}

// Finder finds a launched instance by its ID, for launches whose outcome a
// crash left unrecorded.
type Finder interface {
	Find(ctx context.Context, group, id string) (model.Instance, bool, error)
}

type signaler = provider.Signaler

// Options are the reconciler's collaborators.
type Options struct {
	Clock clock.Clock
	Log   *slog.Logger
	HTTP  *http.Client
	// Rand draws launch IDs and backoff jitter.
	Rand *rand.Rand
	// CallTimeout bounds each provider call (default 30s).
	CallTimeout time.Duration
	// Observe hears provider calls and drain outcomes, for metrics; nil
	// hears nothing.
	Observe Observer
	// KeepTerminated is how long ended instances (terminated or failed)
	// stay in the record (default 1h); older ones are deleted so the record
	// does not grow with every instance ever launched.
	KeepTerminated time.Duration
	// Registry is the service registry of groups with lifecycle.registry;
	// nil reads nothing from one (the simulator).
	Registry Registry
}

// Reconciler keeps one group's instances at its desired capacity.
type Reconciler struct {
	mu   sync.Mutex // one Reconcile or operator action at a time
	spec Spec
	prov Provider
	st   *store.Store
	opt  Options

	launchRetry *retry // nil unless the last launch failed
	drainRetry  map[string]*retry
	termRetry   map[string]*retry
	openTerm    map[string]bool // instances with an open terminate intent, as resume left them
	healthFails map[string]int
	checked     map[string]time.Time // last drain check, per instance
	pruned      time.Time            // when load last looked for expired records
	writes      int                  // store write transactions opened, for reconcile
	recs        records              // the group's records as the store holds them
	txn         txn                  // update's, reused
	susp        suspension           // the group's suspension as the store holds it
	liveBuf     []model.Instance     // live's, reused
	scaleBuf    []model.Instance     // scale's, reused

	// cap is set for a capacity provider (NewCapacity); outside is the
	// desired count someone else set, seen by the reconcile.
	cap     *capacityProvider
	outside *int
	// immediate says the provider answers every call at once
	// (provider.Immediate): its calls need no timeout.
	immediate bool
}

// Status summarises a group's fleet after a reconcile.
type Status struct {
	Desired     int      `json:"desired"`
	Launching   int      `json:"launching"`
	InService   int      `json:"in_service"`
	Draining    int      `json:"draining"`
	Terminating int      `json:"terminating"`
	Conditions  []string `json:"conditions,omitempty"`
	// Outside is, for a capacity provider, the desired count someone else
	// set in the system since the last reconcile, less the instances ebb
	// drains: the caller takes it as the group's capacity instead of
	// fighting it. Nil when nobody did.
	Outside *int `json:"-"`
	// Settled says nothing is in flight: every instance is in service,
	// as many as desired, with no condition, no failed health check and
	// no retry pending. A settled group can be reconciled less often.
	Settled bool `json:"-"`
	// Wake is when the reconciler next has something to do of its own: a
	// retry comes due, a launch times out, a draining instance is checked
	// (lifecycle.drain.heartbeat), a probe is asked. Before Wake, a
	// reconcile does nothing unless the desired capacity or what the
	// provider reports changes. A reconcile that acted (wrote to the
	// store) sets it to now: what it started may need another step at
	// once. Zero: no timer is pending.
	Wake time.Time `json:"-"`
}

// New returns a reconciler for spec's group.
func New(spec Spec, prov Provider, st *store.Store, opt Options) *Reconciler {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{}
	}
	if opt.Rand == nil {
		opt.Rand = rand.New(rand.NewPCG(1, 1))
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 30 * time.Second
	}
	if opt.Observe == nil {
		opt.Observe = noObserver{}
	}
	if opt.KeepTerminated <= 0 {
		opt.KeepTerminated = time.Hour
	}
	opt.Log = opt.Log.With("group", spec.Group)
	return &Reconciler{spec: spec, prov: prov, st: st, opt: opt, immediate: immediate(prov),
		drainRetry: map[string]*retry{}, termRetry: map[string]*retry{}, openTerm: map[string]bool{},
		healthFails: map[string]int{}, checked: map[string]time.Time{}}
}

// immediate reports whether p answers every call at once
// (provider.Immediate).
func immediate(p any) bool {
	im, ok := p.(provider.Immediate)
	return ok && im.Immediate()
}

// Reconcile moves the fleet one step toward desired: it resumes intents a
// crash left open, advances every instance's lifecycle, then launches or
// drains. It reads desired once it holds the reconciler's lock, so an
// operator action that lowers desired and drains an instance under the
// same lock (Terminate's Before) never races a reconcile; desired must not
// wait for anything that waits for this reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, desired func() int) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconcile(ctx, desired())
}

func (r *Reconciler) reconcile(ctx context.Context, desired int) (Status, error) {
	start := r.writes
	if r.cap != nil {
		// Observed first: an intent a crash left open is resumed knowing
		// what the system runs and which of its removals wait on a hook.
		if err := r.observeCapacity(ctx); err != nil {
			return Status{}, err
		}
	}
	if err := r.resume(ctx); err != nil {
		return Status{}, err
	}
	insts, susp, err := r.load()
	if err != nil {
		return Status{}, err
	}
	if r.outside != nil {
		// Not fought: the caller takes the new count as the group's
		// capacity, and the next reconcile scales to it.
		n := max(0, *r.outside-r.cap.draining(insts))
		st := r.status(desired, insts)
		st.Outside, st.Settled, st.Wake = &n, false, r.opt.Clock.Now()
		return st, r.saveExpect()
	}
	ended := false
	for i := range insts {
		if err := r.advance(ctx, &insts[i]); err != nil {
			r.opt.Log.Warn("instance step failed", "instance", insts[i].ID, "state", insts[i].State, "err", err)
		}
		ended = ended || insts[i].State.Ended()
	}
	if ended {
		insts = slices.DeleteFunc(insts, func(in model.Instance) bool { return in.State.Ended() })
	}
	wrote := r.writes
	if err := r.scale(ctx, insts, desired, susp); err != nil {
		return Status{}, err
	}
	if err := r.saveExpect(); err != nil {
		return Status{}, err
	}
	if r.writes != wrote { // scale launched, stopped or drained: what it recorded
		if insts, err = r.live(); err != nil {
			return Status{}, err
		}
	}
	st := r.status(desired, insts)
	st.Wake = r.wake(insts, r.writes != start)
	return st, nil
}

// pruneEvery is how often, at most, a reconcile deletes the records of
// instances that ended more than KeepTerminated ago: each deletion is a
// write, and the records need not go the minute they expire.
const pruneEvery = time.Minute

// load returns the group's live instances, and reads its suspension
// (an operator's, written beside the reconciler) from the store. At most
// once per pruneEvery, it then deletes the records of instances that ended
// (terminated or failed) more than KeepTerminated ago, when there are any:
// an idle reconcile writes nothing.
func (r *Reconciler) load() ([]model.Instance, store.Suspended, error) {
	susp, err := r.suspended()
	if err != nil {
		return nil, susp, fmt.Errorf("load group %s: %w", r.spec.Group, err)
	}
	insts, err := r.live()
	return insts, susp, err
}

// suspension is the group's suspension as last read from its state, and
// the store's StateVersion of the group before that read.
type suspension struct {
	valid   bool
	version uint64
	susp    store.Suspended
}

// suspended returns the group's suspension, read from its state in the
// store when the state may have changed since the last read: most
// reconciles find it unchanged, and read nothing.
func (r *Reconciler) suspended() (store.Suspended, error) {
	version := r.st.StateVersion(r.spec.Group) // before the read: a write after it moves it
	if r.susp.valid && r.susp.version == version {
		return r.susp.susp, nil
	}
	var susp store.Suspended
	err := r.st.View(func(tx *store.Tx) error {
		gs, _, err := tx.GroupState(r.spec.Group)
		susp = gs.Suspended
		return err
	})
	if err != nil {
		r.susp = suspension{}
		return susp, err
	}
	r.susp = suspension{valid: true, version: version, susp: susp}
	return susp, nil
}

// live returns the group's live instances, pruning the expired records
// of ended ones as load says. The slice is valid until the next call.
func (r *Reconciler) live() ([]model.Instance, error) {
	all, err := r.instances()
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", r.spec.Group, err)
	}
	var expired []string
	now := r.opt.Clock.Now()
	prune := now.Sub(r.pruned) >= pruneEvery
	cutoff := now.Add(-r.opt.KeepTerminated)
	// The last call's slice is reused: a reconcile is done with the
	// instances of its first load when it loads again.
	insts := r.liveBuf[:0]
	for i := range all {
		switch in := &all[i]; {
		case !in.State.Ended():
			insts = append(insts, own(*in))
		case prune && in.StateSince.Before(cutoff):
			expired = append(expired, in.ID)
		}
	}
	r.liveBuf = insts
	if prune {
		r.pruned = now
	}
	if len(expired) > 0 {
		err := r.update(func(tx *txn) error {
			for _, id := range expired {
				if err := tx.DeleteInstance(r.spec.Group, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("delete ended instances of %s: %w", r.spec.Group, err)
		}
	}
	return insts, nil
}

// status summarises insts, the group's live instances as the reconcile
// left them.
func (r *Reconciler) status(desired int, insts []model.Instance) Status {
	s := Status{Desired: desired}
	for i := range insts {
		switch insts[i].State {
		case model.Pending, model.Launching:
			s.Launching++
		case model.InService:
			s.InService++
		case model.Draining:
			s.Draining++
		default:
			s.Terminating++
		}
	}
	if lr := r.launchRetry; lr != nil {
		what := "1 launch failed"
		if lr.failures > 1 {
			what = fmt.Sprintf("%d launches failed in a row", lr.failures)
		}
		s.Conditions = append(s.Conditions, fmt.Sprintf("%s (last: %v); next attempt after %s", what, lr.last, stamp(lr.next)))
	}
	for i := range insts {
		if in := &insts[i]; in.Condition != "" {
			s.Conditions = append(s.Conditions, "instance "+in.ID+": "+in.Condition)
		}
	}
	s.Settled = s.InService == desired && s.Launching+s.Draining+s.Terminating == 0 && len(s.Conditions) == 0 &&
		r.launchRetry == nil && len(r.healthFails)+len(r.drainRetry)+len(r.termRetry)+len(r.openTerm) == 0
	return s
}

// wake is Status.Wake (see there) for the group's live instances as the
// reconcile left them; acted says it wrote something.
func (r *Reconciler) wake(insts []model.Instance, acted bool) time.Time {
	now := r.opt.Clock.Now()
	if acted || r.cap == nil {
		// What was started may need another step at once; and a local
		// process may exit at any moment, which only asking it tells.
		return now
	}
	var wake time.Time
	at := func(when time.Time) {
		if wake.IsZero() || when.Before(wake) {
			wake = when
		}
	}
	if r.launchRetry != nil {
		at(r.launchRetry.next)
	}
	for _, rt := range r.drainRetry {
		at(rt.next)
	}
	for _, rt := range r.termRetry {
		at(rt.next)
	}
	if len(r.healthFails) > 0 {
		at(now)
	}
	for i := range insts {
		switch in := &insts[i]; in.State {
		case model.Launching:
			if r.spec.readyProbe.set() || r.registered() {
				at(now)
			}
			at(in.LaunchedAt.Add(r.spec.launchTimeout + 1)) // timed out once past it
		case model.InService:
			if r.spec.healthProbe.set() || r.registered() {
				at(maxTime(now, in.ReadyAt.Add(r.spec.healthGrace)))
			}
		case model.Draining:
			check := now
			if last, ok := r.checked[in.ID]; ok {
				check = last.Add(r.spec.checkEvery())
			}
			at(check)
			if starts := r.drainStarts(*in); starts.After(now) {
				at(starts) // the drain action goes once clients have refreshed
			}
		case model.Pending, model.Unhealthy, model.Terminating:
			if !r.openTerm[in.ID] { // an open termination waits on termRetry
				at(now)
			}
		}
	}
	return wake
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// call bounds one provider call by Options.CallTimeout; a call to a
// provider that answers at once (provider.Immediate) cannot hang, and is
// not given a timer it would never need.
//
// When this process may no longer act on the group (a replica that lost
// the lead, store.Leading), the context it returns has already ended, with
// that as its cause: a provider sends nothing on an ended context.
func (r *Reconciler) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if err := r.st.Leading(); err != nil {
		ended, cancel := context.WithCancelCause(ctx)
		cancel(err)
		return ended, func() {}
	}
	if r.immediate {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.opt.CallTimeout)
}

// begin records an intent and the instance's new record in one transaction,
// before the action is taken.
func (r *Reconciler) begin(kind store.IntentKind, inst model.Instance) (store.Intent, error) {
	var in store.Intent
	err := r.update(func(tx *txn) error {
		var err error
		in, err = tx.AddIntent(store.Intent{Group: inst.Group, Instance: inst.ID, Kind: kind, Created: r.opt.Clock.Now()})
		if err != nil {
			return err
		}
		return tx.PutInstance(inst)
	})
	if err != nil {
		return in, fmt.Errorf("record %s intent for %s: %w", kind, inst.ID, err)
	}
	return in, nil
}

// finish records the outcome of an intent and the instance's record
// together.
func (r *Reconciler) finish(in store.Intent, inst model.Instance, result string) error {
	err := r.update(func(tx *txn) error {
		if err := tx.PutInstance(inst); err != nil {
			return err
		}
		return tx.FinishIntent(in.Seq, r.opt.Clock.Now(), result)
	})
	if err != nil {
		return fmt.Errorf("record %s of %s done: %w", in.Kind, inst.ID, err)
	}
	return nil
}

func (r *Reconciler) put(inst model.Instance) error {
	if err := r.update(func(tx *txn) error { return tx.PutInstance(inst) }); err != nil {
		return fmt.Errorf("record %s: %w", inst.ID, err)
	}
	return nil
}

// move sets an instance's state and reason, stamping the time.
func (r *Reconciler) move(inst *model.Instance, to model.InstanceState, reason string) {
	if r.opt.Log.Enabled(context.Background(), slog.LevelInfo) { // the arguments cost allocations otherwise
		r.opt.Log.Info("instance", "instance", inst.ID, "from", inst.State, "to", to, "reason", reason)
	}
	r.leaveRegistry(*inst, to)
	inst.State, inst.Reason, inst.StateSince = to, reason, r.opt.Clock.Now()
}

// failedLaunch counts a failure and pushes the next launch back: the
// delay starts at backoff.initial and doubles with each failure in a row
// up to backoff.max, jittered 50–100%.
func (r *Reconciler) failedLaunch(cause error) {
	if r.launchRetry == nil {
		r.launchRetry = newRetry(r.spec.backoffMin, r.spec.backoffMax, halfJitter)
	}
	d := r.launchRetry.fail(r.opt.Clock.Now(), cause, r.opt.Rand)
	r.opt.Log.Warn("launch failed", "failures_in_a_row", r.launchRetry.failures, "retry_in", d.Round(time.Millisecond), "err", cause)
}
