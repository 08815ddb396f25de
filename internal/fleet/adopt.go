package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Lister lists every instance that runs for a group, recorded or not
// (provider/local finds them by the EBB_INSTANCE marker in their
// environment).
type Lister interface {
	List(ctx context.Context, group string) ([]model.Instance, error)
}

// reasonAdopted is the reason of an instance Adopt recorded.
const reasonAdopted = "adopted: running but not in the state file"

// Adopt asks the provider what runs for the group and records every
// instance the store does not know as launching, so it is checked for
// readiness and counted like any other instead of a second fleet being
// launched beside it (the state file was lost, emptied, or restored from
// an old copy). An instance the store knows only as ended (terminated or
// failed) but that still runs is adopted too: ebb believed it gone, so
// nothing else would ever stop it, and once adopted it is drained by
// scale-in like any other rather than killed unannounced. It returns the
// adopted instances, sorted by ID; with a provider that cannot list, none.
// Call it before the first Reconcile.
func (r *Reconciler) Adopt(ctx context.Context) ([]model.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.prov.(Lister)
	if !ok {
		return nil, nil
	}
	cctx, cancel := r.call(ctx)
	done := r.observed("list")
	found, err := l.List(cctx, r.spec.Group)
	done(err)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list instances of %s: %w", r.spec.Group, err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	now := r.opt.Clock.Now()
	var adopted []model.Instance
	err = r.update(func(tx *txn) error {
		adopted = adopted[:0]
		for _, f := range found {
			known, ok, err := tx.Instance(r.spec.Group, f.ID)
			if err != nil {
				return err
			}
			if ok && !known.State.Ended() {
				continue
			}
			inst := model.Instance{
				ID: f.ID, Group: r.spec.Group, Zone: f.Zone, Addr: f.Addr, Process: f.Process,
				State: model.Launching, Protected: r.spec.Protect,
				LaunchedAt: now, StateSince: now, Reason: reasonAdopted,
			}
			if ok { // what the old record knew and the provider cannot tell
				inst.Zone, inst.Protected = known.Zone, known.Protected
			}
			if err := tx.PutInstance(inst); err != nil {
				return err
			}
			adopted = append(adopted, inst)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record adopted instances of %s: %w", r.spec.Group, err)
	}
	slices.SortFunc(adopted, func(a, b model.Instance) int { return strings.Compare(a.ID, b.ID) })
	for _, in := range adopted {
		r.opt.Log.Info("instance", "instance", in.ID, "to", in.State, "reason", in.Reason)
	}
	return adopted, nil
}
