package engine

import (
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// datapoints takes a direction only when M of the last N evaluations
// recommended it.
func (g *Group) datapoints(st *State, cur, out int, d *model.Decision) int {
	dir := model.DirectionOf(cur, out)
	st.upPoints.Push(dir == model.Up, g.up.of)
	st.downPoints.Push(dir == model.Down, g.down.of)
	r, points := g.up, st.upPoints
	if dir == model.Down {
		r, points = g.down, st.downPoints
	}
	if dir == model.Hold || r.need <= 1 {
		return out
	}
	if n := points.Count(r.of); n < r.need {
		return step(d, model.StageDatapoints, out, cur, model.Because(
			"scale-%v recommended in %v of the last %v evaluations, need %v",
			model.Str(word(dir)), model.Int(n), model.Int(r.of), model.Int(r.need)))
	}
	return out
}

func word(dir model.Direction) string {
	if dir == model.Up {
		return "out"
	}
	return "in"
}

// stabilize applies the HPA stabilization rule: scale up only to the lowest
// recommendation within the up window, down only to the highest within the
// down window. It records this tick's recommendation. A group seen for the
// first time (new, or whose memory was lost) starts its windows with its
// current capacity, as Kubernetes does: no scale-in before a whole down
// window has recommended it.
func (g *Group) stabilize(st *State, now time.Time, cur, out int, d *model.Decision) int {
	if !st.seeded {
		st.recs.reset()
		st.recs.add(timedValue{t: now, v: cur})
		st.seeded = true
	}
	st.recs.trim(now, max(g.up.window, g.down.window))
	// A recommendation is within a window when it is younger than it:
	// made after the window's start.
	upRec := st.recs.minAfter(now.Add(-g.up.window), out)
	downRec := st.recs.maxAfter(now.Add(-g.down.window), out)
	st.recs.add(timedValue{t: now, v: out})
	res := cur
	if res < upRec {
		res = upRec
	}
	if res > downRec {
		res = downRec
	}
	switch {
	case res > out:
		return step(d, model.StageStabilization, out, res, model.Because(
			"scale-down window %v holds %v", model.Dur(g.down.window), model.Int(res)))
	case res < out:
		return step(d, model.StageStabilization, out, res, model.Because(
			"scale-up window %v holds %v", model.Dur(g.up.window), model.Int(res)))
	}
	return out
}

// rateLimit applies the direction's limits to the change.
func (g *Group) rateLimit(st *State, now time.Time, cur, out int, d *model.Decision) int {
	switch {
	case out > cur:
		limit, why := g.limit(st, now, cur, g.up)
		if out > limit {
			return step(d, model.StageRateLimit, out, limit, why)
		}
	case out < cur:
		limit, why := g.limit(st, now, cur, g.down)
		if out < limit {
			return step(d, model.StageRateLimit, out, limit, why)
		}
	}
	return out
}

// limit computes how far capacity may move in r's direction now, following
// the HPA: each limit measures from the capacity at the start of its period
// (current minus what was added plus what was removed within it); select max
// takes the limit allowing the most change, min the least.
func (g *Group) limit(st *State, now time.Time, cur int, r rules) (int, model.Reason) {
	if r.sel == selectDisabled {
		return cur, model.Because("scale-%v is disabled", model.Str(word(r.dir)))
	}
	if len(r.limits) == 0 {
		if r.dir == model.Up {
			return math.MaxInt32, model.Reason{}
		}
		return 0, model.Reason{}
	}
	best, bestStart, which := 0, 0, -1
	for i, l := range r.limits {
		added, removed := st.changes(now, l.Per.D())
		start := cur - added + removed
		p := proposal(r.dir, start, l)
		better := which < 0 ||
			(r.dir == model.Up) == (r.sel == selectMax) && p > best ||
			(r.dir == model.Up) != (r.sel == selectMax) && p < best
		if better {
			best, bestStart, which = p, start, i
		}
	}
	l := r.limits[which]
	if r.dir == model.Up {
		best = max(best, cur)
	} else {
		best = min(best, cur)
	}
	amount, unit := model.Int(l.Count), ""
	if l.Count == 0 {
		amount, unit = model.Num(l.Percent), "%"
	}
	return best, model.Because("scale-%v limit %v%v per %v from %v allows %v",
		model.Str(word(r.dir)), amount, model.Str(unit), model.Dur(l.Per.D()), model.Int(bestStart), model.Int(best))
}

// proposal is one limit's bound from the period's starting capacity. A
// percent limit lets a group at zero grow by one, or it could never start.
func proposal(dir model.Direction, start int, l config.Limit) int {
	if dir == model.Up {
		if l.Count > 0 {
			return start + l.Count
		}
		p := int(math.Ceil(float64(start) * (1 + l.Percent/100)))
		if start == 0 {
			p = max(p, 1)
		}
		return p
	}
	if l.Count > 0 {
		return max(start-l.Count, 0)
	}
	return max(int(float64(start)*(1-l.Percent/100)), 0)
}

// changes sums capacity added and removed within the period before now.
func (st *State) changes(now time.Time, per time.Duration) (added, removed int) {
	start := now.Add(-per)
	for _, e := range st.events.all() {
		if !e.t.After(start) {
			continue
		}
		if e.v > 0 {
			added += e.v
		} else {
			removed -= e.v
		}
	}
	return added, removed
}

// cooldown holds a scale-out within up.cooldown of the last scale-out and a
// scale-in within down.cooldown of any scaling.
func (g *Group) cooldown(st *State, now time.Time, cur, out int, d *model.Decision) int {
	switch {
	case out > cur && g.up.cooldown > 0 && !st.LastUp.IsZero() && now.Sub(st.LastUp) < g.up.cooldown:
		return step(d, model.StageCooldown, out, cur, model.Because(
			"scale-out cooldown %v: last scale-out %v ago", model.Dur(g.up.cooldown), model.Dur(now.Sub(st.LastUp))))
	case out < cur && g.down.cooldown > 0 && !st.LastScale.IsZero() && now.Sub(st.LastScale) < g.down.cooldown:
		return step(d, model.StageCooldown, out, cur, model.Because(
			"scale-in cooldown %v: last scaling %v ago", model.Dur(g.down.cooldown), model.Dur(now.Sub(st.LastScale))))
	}
	return out
}

// guard freezes or caps scale-out while a downstream signal is above its
// threshold. A guard whose signal is missing does not act; the decision's
// inputs show the gap.
func (g *Group) guard(st *State, cur, out int, d *model.Decision) int {
	for _, gd := range g.guards {
		v := st.values[gd.signal]
		if out <= cur || !v.OK || v.V <= gd.above {
			continue
		}
		if !gd.hasCap {
			out = step(d, model.StageGuard, out, cur, model.Because(
				"guard %v %v > %v freezes scale-out at %v", model.Str(gd.name), model.Num(v.V), model.Num(gd.above), model.Int(cur)))
			continue
		}
		if limit := max(cur, gd.cap); out > limit {
			out = step(d, model.StageGuard, out, limit, model.Because(
				"guard %v %v > %v caps scale-out at %v", model.Str(gd.name), model.Num(v.V), model.Num(gd.above), model.Int(limit)))
		}
	}
	return out
}
