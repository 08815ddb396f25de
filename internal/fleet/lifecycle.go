package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// resume finishes intents a crash left open: it never repeats a launch,
// re-sends a drain request (they are idempotent) and re-issues a terminate
// (a no-op for an instance already gone).
func (r *Reconciler) resume(ctx context.Context) error {
	open, err := r.openIntents()
	if err != nil {
		return fmt.Errorf("read open intents of %s: %w", r.spec.Group, err)
	}
	// What each intent's instance was before any of them is resumed: the
	// records change as they are (the open intents are replaced, not
	// changed, by a write, so open stays as read).
	var insts map[string]model.Instance
	if len(open) > 0 {
		insts = make(map[string]model.Instance, len(open))
		for _, in := range open {
			if inst, ok, err := r.record(in.Instance); err != nil {
				return fmt.Errorf("read open intents of %s: %w", r.spec.Group, err)
			} else if ok {
				insts[in.Instance] = inst
			}
		}
	}
	now := r.opt.Clock.Now()
	clear(r.openTerm)
	for _, in := range open {
		inst, ok := insts[in.Instance]
		var moot string
		switch {
		case !ok:
			moot = "instance record missing"
		case in.Kind == store.IntentDrain && inst.State != model.Draining:
			moot = "instance no longer draining"
		case in.Kind == store.IntentTerminate && inst.State.Ended():
			moot = "instance already " + string(inst.State)
		}
		if moot != "" {
			// Nothing to act on: close the intent and forget its retry (a
			// drain or a removal refused before the instance ended or went
			// from the system is not tried again, and holds nothing up).
			switch in.Kind {
			case store.IntentDrain:
				delete(r.drainRetry, in.Instance)
			case store.IntentTerminate:
				delete(r.termRetry, in.Instance)
			}
			if err := r.update(func(tx *txn) error {
				return tx.FinishIntent(in.Seq, now, moot)
			}); err != nil {
				return err
			}
			continue
		}
		var err error
		switch in.Kind {
		case store.IntentLaunch:
			err = r.resumeLaunch(ctx, in, inst)
		case store.IntentDrain:
			if !r.drainRetry[inst.ID].due(now) {
				continue
			}
			err = r.sendDrain(ctx, in, inst)
		case store.IntentTerminate:
			if !r.termRetry[inst.ID].due(now) {
				r.openTerm[inst.ID] = true
				continue
			}
			if err = r.terminate(ctx, in, inst); err != nil {
				r.openTerm[inst.ID] = true
			}
		}
		if err != nil {
			r.opt.Log.Warn("resume intent failed", "intent", in.Seq, "kind", in.Kind, "instance", in.Instance, "err", err)
		}
	}
	return nil
}

// resumeLaunch settles a launch whose outcome was not recorded: the
// provider either started the instance (adopt it) or did not (fail it).
func (r *Reconciler) resumeLaunch(ctx context.Context, in store.Intent, inst model.Instance) error {
	if f, ok := r.prov.(Finder); ok {
		cctx, cancel := r.call(ctx)
		done := r.observed("find")
		found, ok, err := f.Find(cctx, inst.Group, inst.ID)
		done(err)
		cancel()
		if err != nil {
			return fmt.Errorf("find %s: %w", inst.ID, err)
		}
		if ok {
			inst.Addr, inst.Process = found.Addr, found.Process
			r.move(&inst, model.Launching, "adopted after restart")
			return r.finish(in, inst, "adopted")
		}
	}
	r.move(&inst, model.Failed, "launch interrupted; no instance found")
	r.failedLaunch(errors.New(inst.Reason))
	return r.finish(in, inst, "lost")
}

// advance moves one instance along its lifecycle.
func (r *Reconciler) advance(ctx context.Context, inst *model.Instance) error {
	now := r.opt.Clock.Now()
	switch inst.State {
	case model.Pending:
		// A pending record without an open intent was never launched.
		r.move(inst, model.Terminated, "never launched")
		return r.put(*inst)
	case model.Launching:
		alive, err := r.alive(ctx, inst)
		if err != nil {
			return err
		}
		switch {
		case !alive: // nothing runs: there is nothing to stop
			r.move(inst, model.Failed, "exited before it was ready")
			r.failedLaunch(errors.New(inst.Reason))
			return r.put(*inst)
		case r.ready(ctx, *inst):
			inst.ReadyAt = now
			r.move(inst, model.InService, "ready")
			r.launchRetry = nil
			return r.put(*inst)
		case now.Sub(inst.LaunchedAt) > r.spec.launchTimeout:
			// Stopped first (terminating); terminate ends it as failed.
			r.move(inst, model.Terminating, reasonNotReady+model.FormatDuration(r.spec.launchTimeout))
			r.failedLaunch(errors.New(inst.Reason))
			return r.stop(ctx, inst)
		}
	case model.InService:
		alive, err := r.alive(ctx, inst)
		if err != nil {
			return err
		}
		if !alive {
			r.move(inst, model.Unhealthy, "process exited")
			return r.stop(ctx, inst)
		}
		if reason := r.unhealthy(ctx, inst); reason != "" {
			r.move(inst, model.Unhealthy, reason)
			return r.stop(ctx, inst)
		}
	case model.Draining:
		return r.watchDrain(ctx, inst)
	case model.Unhealthy, model.Terminating:
		if r.openTerm[inst.ID] { // resume retries it when its backoff allows
			return nil
		}
		return r.stop(ctx, inst)
	}
	return nil
}

func (r *Reconciler) alive(ctx context.Context, inst *model.Instance) (bool, error) {
	if r.cap != nil && r.cap.seen != nil {
		// A capacity provider answers from the reconcile's observation:
		// nothing is sent, so there is no call to bound (and a replica
		// that lost the lead sends nothing either way).
		done := r.observed("alive")
		_, ok := r.cap.seen[inst.ID]
		done(nil)
		return ok, nil
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	done := r.observed("alive")
	ok, err := r.prov.Alive(cctx, *inst)
	done(err)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", inst.ID, err)
	}
	return ok, nil
}

// ready asks the registry, when the group uses one, and the readiness
// probe; without a probe, a running process is ready, and a capacity
// provider's instance once its system says so.
func (r *Reconciler) ready(ctx context.Context, inst model.Instance) bool {
	if !r.registryReady(inst) {
		return false
	}
	if !r.spec.readyProbe.set() {
		if r.cap != nil {
			return r.cap.ready(inst.ID)
		}
		return true
	}
	ok, err := r.spec.readyProbe.ask(ctx, r.opt.HTTP, inst)
	if err != nil {
		r.opt.Log.Debug("not ready yet", "instance", inst.ID, "err", err)
	}
	return ok && err == nil
}

// unhealthy checks an instance past the grace period and says why it is
// to be replaced, or "": gone from the registry or its lease lapsed (at
// once), or the health check failed, or the instance reported DOWN in the
// registry, often enough in a row.
func (r *Reconciler) unhealthy(ctx context.Context, inst *model.Instance) string {
	if (!r.spec.healthProbe.set() && !r.registered()) || r.opt.Clock.Now().Sub(inst.ReadyAt) < r.spec.healthGrace {
		return ""
	}
	reason, failed := r.registryHealth(*inst)
	if reason != "" {
		return reason
	}
	if r.spec.healthProbe.set() {
		ok, err := r.spec.healthProbe.ask(ctx, r.opt.HTTP, *inst)
		failed = failed || !ok || err != nil
	}
	if !failed {
		delete(r.healthFails, inst.ID)
		return ""
	}
	r.healthFails[inst.ID]++
	if r.healthFails[inst.ID] < r.spec.healthFailures {
		return ""
	}
	return fmt.Sprintf("failed %d health checks in a row", r.spec.healthFailures)
}

// watchDrain checks a draining instance once per heartbeat: gone or idle,
// it is terminated; busy past the timeout, on_timeout decides.
func (r *Reconciler) watchDrain(ctx context.Context, inst *model.Instance) error {
	now := r.opt.Clock.Now()
	if last, ok := r.checked[inst.ID]; ok && now.Sub(last) < r.spec.checkEvery() {
		return nil
	}
	r.checked[inst.ID] = now
	if err := r.heartbeatHook(ctx, inst); err != nil {
		r.opt.Log.Warn("lifecycle hook heartbeat failed", "instance", inst.ID, "err", err)
	}
	alive, err := r.alive(ctx, inst)
	if err != nil {
		return err
	}
	if !alive {
		r.drainEnded(inst, drainGone)
		r.move(inst, model.Terminated, "exited after draining")
		return r.put(*inst)
	}
	if starts := r.drainStarts(*inst); now.Before(starts) {
		// Out of the registry's rotation, but clients may still send it
		// requests from their cached copy until they refresh: no drain
		// action yet, nothing is asked, it is busy.
		if now.Sub(inst.HeartbeatAt) < heartbeatRecord {
			return nil
		}
		inst.HeartbeatAt = now
		return r.put(*inst)
	}
	if grace, ok := r.spec.GracefulStop(); ok && r.cap == nil {
		// A graceful stop: no busy probe, no drain timeout; SIGKILL once
		// grace has passed since SIGTERM.
		if now.Sub(r.drainStarts(*inst)) >= grace {
			return r.kill(ctx, inst, grace)
		}
		inst.HeartbeatAt = now
		return r.put(*inst)
	}
	// Without a busy probe, a local instance is busy while its process
	// runs; a capacity provider's is done once asked (the system stops it
	// gracefully itself: a Pod's termination grace, a lifecycle hook).
	busy := r.cap == nil
	if r.spec.busyProbe.set() {
		b, err := r.spec.busyProbe.ask(ctx, r.opt.HTTP, *inst)
		if err != nil {
			// Unanswered is not idle: the instance keeps its work until
			// the probe says so or the drain times out.
			r.opt.Log.Warn("busy probe failed; still waiting", "instance", inst.ID, "err", err)
			b = true
		}
		busy = b
	}
	if d, ok := r.systemDrainer(); ok && !busy {
		// The system's own drain (tasks moving off an ECS container
		// instance) must be done too.
		cctx, cancel := r.call(ctx)
		done := r.observed("busy")
		b, err := d.Busy(cctx, inst.ID)
		done(err)
		cancel()
		if err != nil {
			r.opt.Log.Warn("the system's drain check failed; still waiting", "instance", inst.ID, "err", err)
		}
		busy = b || err != nil
	}
	if _, undelivered := r.drainRetry[inst.ID]; undelivered && !busy {
		// The drain request has not gone through yet (it is retried with
		// backoff): the instance still takes work, so idle now is not
		// drained.
		busy = true
	}
	late := now.Sub(inst.StateSince) >= r.spec.drainLimit
	if r.hookExpiring(inst.ID, now) {
		// The system's own wait ends soon (an Auto Scaling hook's global
		// timeout): let the instance go before the hook's default does.
		late = true
	}
	switch {
	case busy && late && r.spec.abandonLate && !r.hooked(inst.ID):
		// Kept, and protected: scaling in would only pick it again and
		// wait another timeout. Unprotect it to let scale-in choose it.
		r.drainEnded(inst, drainAbandoned)
		inst.Protected = true
		r.move(inst, model.InService, "drain timed out after "+model.FormatDuration(r.spec.drainLimit)+"; abandoned: back in service, protected from scale-in")
		return r.put(*inst)
	case busy && late:
		r.drainEnded(inst, drainTimeout)
		r.move(inst, model.Terminating, "drain timed out after "+model.FormatDuration(r.spec.drainLimit))
		return r.stop(ctx, inst)
	case busy:
		if now.Sub(inst.HeartbeatAt) < heartbeatRecord {
			return nil
		}
		inst.HeartbeatAt = now
		return r.put(*inst)
	}
	r.drainEnded(inst, drainDrained)
	r.move(inst, model.Terminating, "drained")
	return r.stop(ctx, inst)
}

// heartbeatRecord is how often, at most, a drain check that finds the
// instance still busy records it (HeartbeatAt): a write per check would
// cost a store write per draining instance every heartbeat, for a
// timestamp only people read.
const heartbeatRecord = time.Minute

// kill ends a graceful stop that outlasted its grace: SIGKILL now, then
// the terminate intent (which finds the process gone, so the provider's own
// SIGTERM grace is not waited for again).
func (r *Reconciler) kill(ctx context.Context, inst *model.Instance, grace time.Duration) error {
	r.drainEnded(inst, drainTimeout)
	if sig := r.signaler(); sig != nil {
		cctx, cancel := r.call(ctx)
		err := sig.Signal(cctx, *inst, syscall.SIGKILL)
		cancel()
		if err != nil && !isGone(err) {
			r.opt.Log.Warn("kill failed; terminating", "instance", inst.ID, "err", err)
		}
	}
	r.move(inst, model.Terminating, "still running "+model.FormatDuration(grace)+" after SIGTERM; killed")
	return r.stop(ctx, inst)
}

// stop terminates an instance under a terminate intent.
func (r *Reconciler) stop(ctx context.Context, inst *model.Instance) error {
	if inst.State != model.Terminating {
		reason := inst.Reason
		r.move(inst, model.Terminating, reason)
	}
	in, err := r.begin(store.IntentTerminate, *inst)
	if err != nil {
		return err
	}
	return r.terminate(ctx, in, *inst)
}

// terminate performs a recorded terminate intent. On failure the intent
// stays open and is tried again with backoff; the instance shows the
// failure as its condition meanwhile.
func (r *Reconciler) terminate(ctx context.Context, in store.Intent, inst model.Instance) error {
	beforeReady := strings.HasPrefix(inst.Reason, reasonNotReady) || inst.Reason == reasonScaleInBeforeReady
	if r.cap != nil && beforeReady && r.cap.ready(inst.ID) {
		// Stopped before it was ready, so without a drain; but its
		// removal waited (a refused call, a retry) and meanwhile the
		// system put it in service: it may hold work now. A launch given
		// up as late is kept; a scale-in's victim is drained first.
		delete(r.termRetry, inst.ID)
		inst.Condition = ""
		inst.ReadyAt = r.opt.Clock.Now()
		// Ready after all, as a launching instance that becomes ready: a
		// launch given up as late is no longer held against launches.
		r.launchRetry = nil
		scaleIn := inst.Reason == reasonScaleInBeforeReady
		r.move(&inst, model.InService, reasonReadyLate)
		if err := r.finish(in, inst, "not removed: "+reasonReadyLate); err != nil || !scaleIn {
			return err
		}
		return r.startDrain(ctx, inst, "scale-in: "+reasonReadyLate)
	}
	cctx, cancel := r.call(ctx)
	done := r.observed(r.terminateOp(inst.ID))
	err := r.prov.Terminate(cctx, inst)
	done(err)
	cancel()
	if err != nil {
		return r.failed(r.termRetry, inst, "terminate", err)
	}
	delete(r.termRetry, inst.ID)
	delete(r.healthFails, inst.ID)
	inst.Condition = ""
	end := model.Terminated
	if strings.HasPrefix(inst.Reason, reasonNotReady) {
		end = model.Failed
	}
	r.move(&inst, end, inst.Reason)
	return r.finish(in, inst, string(end))
}

// reasonNotReady starts the reason of a launch that was not ready in time:
// it is stopped (terminating), then ends as failed, not terminated. The
// reason is the record of it that survives a restart of ebb.
const reasonNotReady = "not ready within "

// Reasons of instances stopped before they were ready, and of those the
// system put in service while their removal waited.
const (
	reasonScaleInBeforeReady = "scale-in before ready"
	reasonReadyLate          = "ready while its removal waited"
)

// scale launches or drains toward desired.
func (r *Reconciler) scale(ctx context.Context, insts []model.Instance, desired int, susp store.Suspended) error {
	// Counted first: most reconciles launch and drain nothing, and need
	// no lists of the instances.
	launchingN, rebalancingN, inServiceN := 0, 0, 0
	for i := range insts {
		switch in := &insts[i]; in.State {
		case model.Launching:
			launchingN++
			if in.Reason == reasonRebalance {
				rebalancingN++
			}
		case model.InService:
			inServiceN++
		}
	}
	active := launchingN + inServiceN
	now := r.opt.Clock.Now()
	switch {
	case active < desired && !susp.Launch && r.cap != nil:
		if !r.launchRetry.due(now) {
			return nil
		}
		return r.scaleOutCapacity(ctx, insts, desired)
	case active < desired && !susp.Launch:
		if !r.launchRetry.due(now) {
			return nil
		}
		launching, inService := r.byState(insts)
		n := min(desired-active, r.spec.maxConcurrent-len(launching))
		for range n {
			zone := r.pickZone(append(slices.Clone(launching), inService...))
			inst, err := r.launch(ctx, zone, "scale-out")
			if err != nil {
				return err
			}
			if inst.State != model.Launching {
				break // a failed launch backs off the rest of the batch
			}
			launching = append(launching, inst)
		}
	case active-rebalancingN > desired && !susp.Terminate:
		launching, inService := r.byState(insts)
		excess := active - rebalancingN - desired
		// Launches that are not capacity yet hold no work: stop them first,
		// newest first.
		for i := len(launching) - 1; i >= 0 && excess > 0; i-- {
			if launching[i].Reason == reasonRebalance {
				continue
			}
			l := launching[i]
			r.move(&l, model.Terminating, reasonScaleInBeforeReady)
			if err := r.stop(ctx, &l); err != nil { // recorded: retried with backoff
				r.opt.Log.Warn("terminate failed", "instance", l.ID, "err", err)
			}
			excess--
		}
		for _, v := range r.victims(ctx, inService, excess) {
			if err := r.startDrain(ctx, v, "scale-in: "+r.spec.selection); err != nil {
				return err
			}
		}
	case active == desired && launchingN == 0 && !susp.Launch && !susp.Terminate && r.cap == nil:
		// Zones drifted apart (replacements, failures): launch in the
		// emptiest zone first; once it is ready, the excess drains from
		// the fullest.
		_, inService := r.byState(insts)
		if zone, ok := r.rebalanceZone(inService); ok {
			_, err := r.launch(ctx, zone, reasonRebalance)
			return err
		}
	}
	return nil
}

const reasonRebalance = "rebalance"

// byState returns copies of the launching and the in-service instances of
// insts, in their order. The in-service ones are in memory reused by the
// next call: nothing keeps them past a scale.
func (r *Reconciler) byState(insts []model.Instance) (launching, inService []model.Instance) {
	inService = r.scaleBuf[:0]
	for i := range insts {
		switch in := &insts[i]; in.State {
		case model.Launching:
			launching = append(launching, *in)
		case model.InService:
			inService = append(inService, *in)
		}
	}
	r.scaleBuf = inService
	return launching, inService
}

// launch starts one instance under a launch intent.
func (r *Reconciler) launch(ctx context.Context, zone, reason string) (model.Instance, error) {
	now := r.opt.Clock.Now()
	inst := model.Instance{
		ID:         fmt.Sprintf("%s-%08x", r.spec.Group, r.opt.Rand.Uint32()),
		Group:      r.spec.Group,
		Zone:       zone,
		State:      model.Pending,
		Protected:  r.spec.Protect,
		LaunchedAt: now,
		StateSince: now,
		Reason:     reason,
	}
	in, err := r.begin(store.IntentLaunch, inst)
	if err != nil {
		return inst, err
	}
	cctx, cancel := r.call(ctx)
	done := r.observed("launch")
	got, err := r.prov.Launch(cctx, provider.LaunchRequest{ID: inst.ID, Group: inst.Group, Zone: zone})
	done(err)
	cancel()
	if err != nil { // nothing runs (the provider's contract): nothing to stop
		r.move(&inst, model.Failed, "launch: "+err.Error())
		r.failedLaunch(err)
		return inst, r.finish(in, inst, "failed: "+err.Error())
	}
	inst.Addr, inst.Process = got.Addr, got.Process
	inst.State, inst.StateSince = model.Launching, now
	r.opt.Log.Info("instance", "instance", inst.ID, "from", model.Pending, "to", model.Launching, "zone", zone, "reason", reason)
	return inst, r.finish(in, inst, "launched")
}

// startDrain moves an instance to draining under a drain intent and asks it
// to finish.
func (r *Reconciler) startDrain(ctx context.Context, inst model.Instance, reason string) error {
	r.move(&inst, model.Draining, reason)
	in, err := r.begin(store.IntentDrain, inst)
	if err != nil {
		return err
	}
	// The drain is recorded: a request that fails is retried with backoff
	// and shows as the instance's condition, so it is not the caller's error.
	if err := r.sendDrain(ctx, in, inst); err != nil {
		r.opt.Log.Warn("drain request failed; retrying with backoff", "instance", inst.ID, "err", err)
	}
	return nil
}

// sendDrain performs a recorded drain intent. A request that fails is
// sent again with backoff (the intent stays open), and the instance shows
// the failure as its condition until one succeeds.
func (r *Reconciler) sendDrain(ctx context.Context, in store.Intent, inst model.Instance) error {
	if refreshed, err := r.takeOut(inst); err != nil || !refreshed {
		// Clients may still send it requests from their cached registry:
		// the intent stays open, and a later reconcile sends the rest.
		return err
	}
	if d, ok := r.systemDrainer(); ok {
		cctx, cancel := r.call(ctx)
		done := r.observed("drain")
		err := d.Drain(cctx, inst.ID)
		done(err)
		cancel()
		if err != nil {
			return r.failed(r.drainRetry, inst, "drain in the system", err)
		}
		delete(r.drainRetry, inst.ID)
		inst.Condition = "" // delivered: an earlier refusal shows no more
	}
	if _, graceful := r.spec.GracefulStop(); graceful && r.cap != nil {
		// No drain configured: the system stops the instance gracefully
		// itself once it is removed (a Pod's termination grace).
		return r.finish(in, inst, "no drain action: the system stops it gracefully when removed")
	}
	if err := r.st.Leading(); err != nil {
		return err // a replica that lost the lead sends no drain
	}
	err := r.spec.drain.send(ctx, r.opt.HTTP, r.signaler(), inst)
	if err != nil && !isGone(err) {
		return r.failed(r.drainRetry, inst, "drain request", err)
	}
	delete(r.drainRetry, inst.ID)
	inst.Condition = ""
	return r.finish(in, inst, "asked to finish: "+r.spec.drain.String())
}

// failed counts a failed terminate or drain request ("what") of inst in retries,
// schedules the next try with backoff and shows the failure as the
// instance's condition until one succeeds.
func (r *Reconciler) failed(retries map[string]*retry, inst model.Instance, what string, err error) error {
	rt := retries[inst.ID]
	if rt == nil {
		rt = newRetry(retryInitial, retryMax, fullJitter)
		retries[inst.ID] = rt
	}
	rt.fail(r.opt.Clock.Now(), err, r.opt.Rand)
	inst.Condition = fmt.Sprintf("%s failed %s (last: %v); next try after %s", what, times(rt.failures), err, stamp(rt.next))
	return errors.Join(fmt.Errorf("%s %s: %w", what, inst.ID, err), r.put(inst))
}
