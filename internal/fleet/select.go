package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

func isGone(err error) bool { return errors.Is(err, provider.ErrGone) }

// victims picks n instances to drain among those in service, never a
// protected one. With zones, each pick comes from the zone with the most
// instances left, so scale-in keeps zones balanced; within a zone (or
// without zones) the selection rule orders them.
func (r *Reconciler) victims(ctx context.Context, inService []model.Instance, n int) []model.Instance {
	if r.cap != nil {
		if pk, ok := r.cap.cap.(provider.Picker); ok {
			return picked(pk.Pick(r.cap.obs, n), inService)
		}
	}
	cands := slices.DeleteFunc(slices.Clone(inService), func(in model.Instance) bool { return in.Protected })
	r.order(ctx, cands)
	var out []model.Instance
	for ; n > 0 && len(cands) > 0; n-- {
		i := 0
		if len(r.spec.Zones) > 0 {
			i = r.fullestZoneFirst(cands, inService, out)
		}
		out = append(out, cands[i])
		cands = slices.Delete(cands, i, i+1)
	}
	return out
}

// order sorts candidates by the selection rule.
func (r *Reconciler) order(ctx context.Context, cands []model.Instance) {
	oldest := func(a, b model.Instance) int {
		if c := a.LaunchedAt.Compare(b.LaunchedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	switch r.spec.selection {
	case "newest":
		slices.SortStableFunc(cands, func(a, b model.Instance) int { return oldest(b, a) })
	case "least_busy":
		busy := map[string]bool{}
		for _, c := range cands {
			if r.spec.busyProbe.set() {
				b, err := r.spec.busyProbe.ask(ctx, r.opt.HTTP, c)
				busy[c.ID] = b || err != nil // unknown counts as busy
			}
		}
		slices.SortStableFunc(cands, func(a, b model.Instance) int {
			if busy[a.ID] != busy[b.ID] {
				if busy[a.ID] {
					return 1
				}
				return -1
			}
			return oldest(a, b)
		})
	default: // oldest, zone_balanced
		slices.SortStableFunc(cands, oldest)
	}
}

// fullestZoneFirst returns the index of the first candidate in the zone
// that keeps the most in-service instances once the chosen leave.
func (r *Reconciler) fullestZoneFirst(cands, inService, chosen []model.Instance) int {
	count := map[string]int{}
	for _, in := range inService {
		count[in.Zone]++
	}
	for _, c := range chosen {
		count[c.Zone]--
	}
	best := 0
	for i, c := range cands {
		if count[c.Zone] > count[cands[best].Zone] {
			best = i
		}
	}
	return best
}

// pickZone is the configured zone with the fewest active instances (the
// first such in the configuration's order).
func (r *Reconciler) pickZone(active []model.Instance) string {
	if len(r.spec.Zones) == 0 {
		return ""
	}
	count := map[string]int{}
	for _, in := range active {
		count[in.Zone]++
	}
	best := r.spec.Zones[0]
	for _, z := range r.spec.Zones[1:] {
		if count[z] < count[best] {
			best = z
		}
	}
	return best
}

// rebalanceZone reports the zone to launch a rebalancing instance in, when
// zones differ by more than one instance.
func (r *Reconciler) rebalanceZone(inService []model.Instance) (string, bool) {
	if len(r.spec.Zones) < 2 || len(inService) < 2 {
		return "", false
	}
	count := map[string]int{}
	for _, in := range inService {
		count[in.Zone]++
	}
	lo, hi := r.spec.Zones[0], r.spec.Zones[0]
	for _, z := range r.spec.Zones {
		if count[z] < count[lo] {
			lo = z
		}
		if count[z] > count[hi] {
			hi = z
		}
	}
	return lo, count[hi]-count[lo] > 1
}

// picked returns the instances in service a Picker named, in its order.
func picked(ids []string, inService []model.Instance) []model.Instance {
	var out []model.Instance
	for _, id := range ids {
		if i := slices.IndexFunc(inService, func(in model.Instance) bool { return in.ID == id }); i >= 0 {
			out = append(out, inService[i])
		}
	}
	return out
}
