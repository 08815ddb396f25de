package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// wakers let the daemon cut short a reconcile loop's pause when something
// the loop acts on changed: desired capacity, a suspension, an operator's
// instance action, the configuration. A settled group's loop pauses for
// IdleEvery; a wake makes it reconcile at once. Its lock is its own, so a
// wake may be sent with or without d.mu held.
type wakers struct {
	mu    sync.Mutex
	loops map[string]*wakeup
}

// wakeup is one loop's pause.
type wakeup struct {
	cancel context.CancelFunc // ends the pause under way; nil while the loop reconciles
	woken  bool               // woken while reconciling: the next pause is skipped
}

func newWakers() *wakers { return &wakers{loops: map[string]*wakeup{}} }

// pause waits d on c, or less if the group is woken meanwhile, or not at
// all if it was woken since its last pause. It returns ctx.Err().
func (w *wakers) pause(ctx context.Context, c clock.Clock, group string, d time.Duration) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	u := w.loops[group]
	if u == nil {
		u = &wakeup{}
		w.loops[group] = u
	}
	if u.woken {
		u.woken = false
		w.mu.Unlock()
		return ctx.Err()
	}
	u.cancel = cancel
	w.mu.Unlock()
	_ = c.Sleep(pctx, d)
	w.mu.Lock()
	u.cancel = nil
	w.mu.Unlock()
	return ctx.Err()
}

// wake makes the group's loop reconcile now: it ends the pause under way,
// or, if the loop is reconciling, the next one before it starts.
func (w *wakers) wake(group string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u := w.loops[group]
	if u == nil {
		u = &wakeup{}
		w.loops[group] = u
	}
	if u.cancel != nil {
		u.cancel()
		u.cancel = nil
		return
	}
	u.woken = true
}

// wakeAll wakes every loop (a new configuration).
func (w *wakers) wakeAll() {
	w.mu.Lock()
	groups := make([]string, 0, len(w.loops))
	for g := range w.loops {
		groups = append(groups, g)
	}
	w.mu.Unlock()
	for _, g := range groups {
		w.wake(g)
	}
}

// forget drops a group whose loop ended.
func (w *wakers) forget(group string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.loops, group)
}
