package fleet

import (
	"context"
	"syscall"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Observer hears what the reconciler does, for metrics. Its methods are
// called with the reconciler's lock held: they must return quickly and
// never call back into the reconciler.
type Observer interface {
	// ProviderCall reports one provider call and its outcome, err. op is
	// the call: launch, terminate, alive, signal, list or find for an
	// instance provider; for a capacity provider observe, set_desired,
	// remove, protect, hooks (its lifecycle hooks listed), heartbeat and
	// complete (of a hook), drain and busy (the system's own drain), and
	// list and alive as well.
	ProviderCall(op string, d time.Duration, err error)
	// DrainEnded reports a drain that ended after d: result is drained
	// (idle, then stopped), timeout (stopped at drain.timeout, or killed at
	// drain.grace), abandoned (back in service at drain.timeout), gone (it
	// exited on its own) or operator (stopped now by an operator).
	DrainEnded(d time.Duration, result string)
}

// Results of a drain, as DrainEnded reports them.
const (
	drainDrained   = "drained"
	drainTimeout   = "timeout"
	drainAbandoned = "abandoned"
	drainGone      = "gone"
	drainOperator  = "operator"
)

type noObserver struct{}

func (noObserver) ProviderCall(string, time.Duration, error) {}
func (noObserver) DrainEnded(time.Duration, string)          {}

// observed times one provider call: start it with the operation's name,
// end it with its error.
func (r *Reconciler) observed(op string) func(error) {
	if _, none := r.opt.Observe.(noObserver); none {
		return unobserved // nobody hears it: nothing to time
	}
	start := r.opt.Clock.Now()
	return func(err error) { r.opt.Observe.ProviderCall(op, r.opt.Clock.Now().Sub(start), err) }
}

func unobserved(error) {}

// drainEnded forgets a drain's checks and retries, clears the condition
// a failing drain request left on the instance, and reports the drain.
func (r *Reconciler) drainEnded(inst *model.Instance, result string) {
	delete(r.checked, inst.ID)
	delete(r.drainRetry, inst.ID)
	inst.Condition = ""
	r.opt.Observe.DrainEnded(r.opt.Clock.Now().Sub(inst.StateSince), result)
}

// observedSignaler reports each signal it sends.
type observedSignaler struct {
	sig signaler
	r   *Reconciler
}

func (o observedSignaler) Signal(ctx context.Context, inst model.Instance, s syscall.Signal) error {
	done := o.r.observed("signal")
	err := o.sig.Signal(ctx, inst, s)
	done(err)
	return err
}

// signaler returns the provider's Signaler, observed, or nil when it cannot
// signal.
func (r *Reconciler) signaler() signaler {
	sig, ok := r.prov.(signaler)
	if !ok {
		return nil
	}
	return observedSignaler{sig: sig, r: r}
}
