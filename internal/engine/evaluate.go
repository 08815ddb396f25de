package engine

import (
	"math"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
)

// Evaluate decides the group's capacity at obs.Now and writes the decision
// into d, reusing d's slices. It takes in obs's samples and records this
// tick's recommendation for the stabilization windows, but it does not record
// a scaling: call Commit once the decision is final.
func (g *Group) Evaluate(st *State, obs Observation, d *model.Decision) {
	now, cur := obs.Now, st.Desired
	d.Group, d.Time, d.Current = g.Name, now, cur
	d.Inputs, d.Policies, d.Steps, d.Notes = d.Inputs[:0], d.Policies[:0], d.Steps[:0], d.Notes[:0]

	g.observe(st, obs, d)
	g.judge(st, obs, d)
	lo, hi := g.recommend(st, obs, d)
	d.Min, d.Max = lo, hi
	out := g.combine(cur, d)
	d.Proposed = out

	out = g.datapoints(st, cur, out, d)
	out = g.stabilize(st, now, cur, out, d)
	out = g.rateLimit(st, now, cur, out, d)
	out = g.cooldown(st, now, cur, out, d)
	out = g.guard(st, cur, out, d)
	out = g.holdIneffective(st, cur, out, d)
	out = clamp(out, lo, hi, g, d)

	d.Desired = out
	d.Direction = model.DirectionOf(cur, out)
}

// Commit records a final decision: capacity changes feed the rate limits and
// cooldowns of later ticks, and a scale-out awaits its effectiveness
// judgement. It may add a note to d (a scale-in lifting a block).
func (g *Group) Commit(st *State, d *model.Decision) {
	st.events.trim(d.Time, g.history)
	if d.Desired == st.Desired {
		return
	}
	g.commitEffect(st, st.Desired, d)
	delta := d.Desired - st.Desired
	st.events.add(timedValue{t: d.Time, v: delta})
	st.LastScale = d.Time
	if delta > 0 {
		st.LastUp = d.Time
	} else {
		st.LastDown = d.Time
	}
	st.Desired = d.Desired
}

func step(d *model.Decision, stage model.Stage, from, to int, r model.Reason) int {
	d.Steps = append(d.Steps, model.Step{Stage: stage, From: from, To: to, Reason: r})
	return to
}

// observe turns samples and per-instance values into this tick's signal
// values, in dependency order.
func (g *Group) observe(st *State, obs Observation, d *model.Decision) {
	now := obs.Now
	st.ready = obs.Ready
	for _, s := range obs.Samples {
		if s.Signal < 0 || s.Signal >= len(g.signals) || math.IsNaN(s.V) || math.IsInf(s.V, 0) {
			continue
		}
		if l := st.last[s.Signal]; l.ok && s.T.Before(l.t) {
			continue // late sample: the newer one stands
		}
		st.last[s.Signal] = lastSample{t: s.T, v: s.V, ok: true}
		if sr := st.series[s.Signal]; sr != nil {
			sr.Add(s.T, s.V)
		}
	}
	for i := range st.perInst {
		st.perInst[i] = st.perInst[i][:0]
	}
	// Every instance gets an entry for every signal, so an instance that
	// reported nothing (still launching) still counts as one; a signal no
	// instance reported keeps its group-level value.
	for _, in := range obs.Instances {
		warm := now.Sub(in.Launched) >= g.warmup
		for i := range st.perInst {
			var v policy.Value
			if i < len(in.Values) {
				v = in.Values[i]
			}
			st.perInst[i] = append(st.perInst[i], policy.InstanceValue{Ready: in.Ready, Warm: warm, Value: v})
		}
	}
	for i, vals := range st.perInst {
		if !slices.ContainsFunc(vals, func(v policy.InstanceValue) bool { return v.OK }) {
			st.perInst[i] = vals[:0]
		}
	}
	for i, s := range g.signals {
		if s.expr == nil {
			g.pushedValue(st, i, now)
		}
	}
	for _, i := range g.order {
		v, why, ok := g.signals[i].expr.Eval(now, st.env)
		st.values[i], st.missing[i] = policy.Value{V: v, OK: ok}, why
		st.subst[i] = false
		if ok {
			if sr := st.series[i]; sr != nil {
				sr.Add(now, v)
			}
		}
		g.substitute(st, i)
	}
	for i, s := range g.signals {
		d.Inputs = append(d.Inputs, model.SignalValue{
			Name: s.name, Value: st.values[i].V, Missing: !st.values[i].OK, Substituted: st.subst[i],
		})
	}
}

// pushedValue sets a pushed signal's value from its instances or its latest
// sample.
func (g *Group) pushedValue(st *State, i int, now time.Time) {
	st.subst[i], st.missing[i] = false, ""
	if vals := st.perInst[i]; len(vals) > 0 {
		v, ok := aggregateValues(g.signals[i].agg, vals)
		st.values[i] = policy.Value{V: v, OK: ok}
		if !ok {
			st.missing[i] = "no ready, warmed-up instance reported it"
		} else if sr := st.series[i]; sr != nil {
			sr.Add(now, v)
		}
	} else {
		l := st.last[i]
		switch {
		case !l.ok:
			st.values[i], st.missing[i] = policy.Value{}, "no value yet"
		case l.t.Before(now.Add(-g.signals[i].stale)): // older than stale
			st.values[i] = policy.Value{}
			st.missing[i] = "last value " + model.FormatDuration(now.Sub(l.t).Round(time.Second)) +
				" ago, stale after " + model.FormatDuration(g.signals[i].stale)
		default:
			st.values[i] = policy.Value{V: l.v, OK: true}
		}
	}
	g.substitute(st, i)
}

// substitute applies treat_as to a missing signal.
func (g *Group) substitute(st *State, i int) {
	if !st.values[i].OK && g.missing.Mode == config.MissingTreatAs {
		st.values[i] = policy.Value{V: g.missing.Value, OK: true, Substituted: true}
		st.subst[i] = true
	}
}

func aggregateValues(agg aggregate, vals []policy.InstanceValue) (float64, bool) {
	n, acc := 0, 0.0
	for _, x := range vals {
		if !x.Ready || !x.Warm || !x.OK {
			continue
		}
		switch {
		case n == 0:
			acc = x.V
		case agg == aggMax:
			acc = max(acc, x.V)
		case agg == aggMin:
			acc = min(acc, x.V)
		default:
			acc += x.V
		}
		n++
	}
	if n == 0 {
		return 0, false
	}
	if agg == aggAvg {
		acc /= float64(n)
	}
	return acc, true
}

// recommend asks every policy and returns the capacity bounds in force.
func (g *Group) recommend(st *State, obs Observation, d *model.Decision) (lo, hi int) {
	cur := st.Desired
	lo, hi = g.Min, g.Max
	var schedMin, schedMax bool
	for i, p := range g.policies {
		in := policy.Input{
			Now:         obs.Now,
			Current:     cur,
			Ready:       obs.Ready,
			Values:      st.values,
			PerInstance: st.perInst,
			LastScale:   st.LastScale,
			AddedSince:  st.added,
			Tolerance:   policy.Tolerance{Up: g.up.tolerance, Down: g.down.tolerance},
			Memory:      &st.memories[i],
		}
		if st.profiles != nil {
			in.Profile = st.profiles[i]
		}
		var rec model.Recommendation
		if miss := firstMissing(g.polSigs[i], st); miss >= 0 {
			rec = g.onMissing(cur, g.signals[miss].name, st.missing[miss])
		} else if r, err := p.Evaluate(in); err != nil {
			rec = g.onMissing(cur, "", err.Error())
		} else {
			rec = r
		}
		rec.Policy = p.Name()
		// An open schedule window replaces the group's bound; several
		// windows combine to the largest min and the smallest max.
		if b := rec.Bounds; b.HasMin {
			if schedMin {
				lo = max(lo, b.Min)
			} else {
				lo = b.Min
			}
			schedMin = true
		}
		if b := rec.Bounds; b.HasMax {
			if schedMax {
				hi = min(hi, b.Max)
			} else {
				hi = b.Max
			}
			schedMax = true
		}
		d.Policies = append(d.Policies, rec)
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

func firstMissing(sigs []int, st *State) int {
	for _, i := range sigs {
		if !st.values[i].OK {
			return i
		}
	}
	return -1
}

// onMissing is a policy's recommendation when it cannot evaluate.
func (g *Group) onMissing(cur int, name, why string) model.Recommendation {
	rec := model.Recommendation{Opinion: model.Recommend}
	if name != "" {
		why = name + " missing (" + why + ")"
	}
	switch g.missing.Mode {
	case config.MissingScaleOut:
		rec.Desired = cur + 1
		rec.Reason = model.Because("%v: treated as breaching, scale out to %v", model.Str(why), model.Int(rec.Desired))
	case config.MissingFallback:
		rec.Desired = g.missing.Fallback
		rec.Reason = model.Because("%v: fallback %v", model.Str(why), model.Int(rec.Desired))
	default: // hold, and treat_as when the policy still cannot compute
		rec.Desired = cur
		rec.Reason = model.Because("%v: hold %v", model.Str(why), model.Int(cur))
	}
	return rec
}

// combine applies the combining rule: out to the largest recommendation; in
// only when every opinion agrees, to the largest of theirs.
//
// A forecast takes part like any opinion: it scales out, and when it is
// above the others it keeps a scale-in from going below it. But it never
// scales in on its own: a scale-in needs a policy that measures (a reactive
// one) to ask for it, so a falling forecast lowers capacity only as far as
// the largest reactive recommendation (AWS predictive scaling, likewise,
// leaves scale-in to the dynamic policies: capacity goes down when demand
// does, not when a prediction says it will).
func (g *Group) combine(cur int, d *model.Decision) int {
	up, down, holder := -1, -1, -1
	opinions, agreeIn, reactiveIn := 0, true, false
	for i, r := range d.Policies {
		if r.Opinion != model.Recommend {
			continue
		}
		opinions++
		if r.Desired < cur && !g.forecasts(i) {
			reactiveIn = true
		}
		switch {
		case r.Desired > cur:
			agreeIn = false
			if up < 0 || r.Desired > d.Policies[up].Desired {
				up = i
			}
		case r.Desired == cur:
			agreeIn = false
			if holder < 0 {
				holder = i
			}
		default:
			if down < 0 || r.Desired > d.Policies[down].Desired {
				down = i
			}
		}
	}
	d.Decider = -1
	switch {
	case up >= 0:
		d.Decider = up
		p := d.Policies[up]
		d.Combined = model.Because("%v asks for %v, the largest scale-out", model.Str(p.Policy), model.Int(p.Desired))
		return p.Desired
	case opinions == 0:
		d.Combined = model.Because("no policy has an opinion: hold %v", model.Int(cur))
		return cur
	case agreeIn && !reactiveIn:
		// No policy's recommendation became the proposal: the decision's
		// reason is the rule's.
		d.Combined = model.Because("%v forecasts %v, but a forecast alone never scales in: hold %v",
			model.Str(d.Policies[down].Policy), model.Int(d.Policies[down].Desired), model.Int(cur))
		return cur
	case agreeIn:
		d.Decider = down
		p := d.Policies[down]
		if opinions == 1 {
			d.Combined = model.Because("%v asks for %v", model.Str(p.Policy), model.Int(p.Desired))
		} else {
			d.Combined = model.Because("all %v policies agree to scale in; %v asks for the most, %v",
				model.Int(opinions), model.Str(p.Policy), model.Int(p.Desired))
		}
		return p.Desired
	default:
		d.Decider = holder
		d.Combined = model.Because("%v holds at %v", model.Str(d.Policies[holder].Policy), model.Int(cur))
		return cur
	}
}

// clamp applies the bounds in force, naming where they came from.
func clamp(out, lo, hi int, g *Group, d *model.Decision) int {
	if out > hi {
		format := "capacity.max %v"
		if hi != g.Max {
			format = "schedule max %v"
		}
		out = step(d, model.StageClamp, out, hi, model.Because(format, model.Int(hi)))
	}
	if out < lo {
		format := "capacity.min %v"
		if lo != g.Min {
			format = "schedule min %v"
		}
		out = step(d, model.StageClamp, out, lo, model.Because(format, model.Int(lo)))
	}
	return out
}
