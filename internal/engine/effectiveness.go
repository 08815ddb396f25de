package engine

import (
	"math"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Ineffective scale-up detection (behavior.up.effectiveness), after the
// Flink Kubernetes operator's autoscaler. A scale-out from N to M instances
// made while the throughput signal read T0 is expected to bring it to about
// T0 × M ÷ N. Once the new instances are ready and `after` has passed, the
// signal's value T1 judges it:
//
//	effective  ⇔  T1 − T0 ≥ threshold × (T0 × M ÷ N − T0)
//
// An ineffective scale-out blocks further scale-outs (the guards stage caps
// them at the current capacity) until one of:
//
//   - the signal rises to max(T0, T1) × (1 + threshold) without more
//     instances: whatever held it back has gone;
//   - the group scales in;
//   - `block` has passed since the judgement (unless it is 0): one more
//     scale-out is allowed, and judged in turn.
//
// One scale-out is judged at a time: those made before it is judged (a
// group growing by its rate limit, tick after tick) are not judged
// themselves, but the instances they add count toward T1 once ready. That
// errs toward "effective": a bottleneck elsewhere keeps T1 near T0 however
// many instances were added, while instances still booting are not yet
// expected to help. With N = 0 or T0 ≤ 0 there is nothing to expect, and no
// judgement.

// ScaleOut is a scale-out whose effect on throughput is awaited, or that was
// judged ineffective, as kept in Memory.
type ScaleOut struct {
	// Signal names the throughput signal it is judged by; a memory judged
	// by another signal than the config's is dropped.
	Signal string    `json:"signal"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	At     time.Time `json:"at"`   // when it was made
	Base   float64   `json:"base"` // the signal's value then
	// Judged and Got are when it was judged ineffective and the signal's
	// value then.
	Judged time.Time `json:"judged,omitzero"`
	Got    float64   `json:"got,omitzero"`
}

// effectiveness is behavior.up.effectiveness compiled. The formats embed
// the signal's name so that a reason keeps within its six arguments and
// building one does not allocate.
type effectiveness struct {
	signal    int
	name      string
	threshold float64
	after     time.Duration
	block     time.Duration

	effective, ineffective, blocking, recovered string
}

// compileEffectiveness compiles cfg's behavior.up.effectiveness, whose
// signal is signal i.
func compileEffectiveness(cfg config.Group, i int) *effectiveness {
	ec := cfg.Behavior.Up.Effectiveness
	e := &effectiveness{
		signal:    i,
		name:      ec.Signal,
		threshold: ec.Threshold,
		after:     cfg.Lifecycle.Launch.Boot.D() + cfg.Behavior.Warmup.D(),
		block:     ec.Block.D(),
	}
	if ec.After != nil {
		e.after = ec.After.D()
	}
	n := strings.ReplaceAll(ec.Signal, "%", "%%")
	judged := ": " + n + " %v → %v, %v%% of the expected rise (threshold %v%%)"
	e.effective = "scale-up %v → %v effective" + judged
	e.ineffective = "scale-up %v → %v ineffective" + judged + ": scale-out blocked"
	e.blocking = "ineffective scale-up %v → %v" + judged + ": no scale-out"
	e.recovered = n + " %v ≥ %v (%v + %v%%) without more instances: scale-out allowed again"
	return e
}

// share is how much of the rise it expected a scale-out brought, and the
// threshold, both in percent rounded to a tenth.
func (e *effectiveness) share(s *ScaleOut, got float64) (pct, threshold model.Arg) {
	expected := s.Base * float64(s.To-s.From) / float64(s.From)
	return model.Num(math.Round((got-s.Base)/expected*1000) / 10), model.Num(math.Round(e.threshold*1000) / 10)
}

func (e *effectiveness) reason(format string, s *ScaleOut, got float64) model.Reason {
	pct, thr := e.share(s, got)
	return model.Because(format, model.Int(s.From), model.Int(s.To), model.Num(s.Base), model.Num(got), pct, thr)
}

// judge weighs the scale-out awaiting judgement, if its time has come, and
// lifts a block whose reasons are gone. It reads this tick's values, so it
// runs after observe.
func (g *Group) judge(st *State, obs Observation, d *model.Decision) {
	e := g.eff
	if e == nil {
		return
	}
	v := st.values[e.signal]
	measured := v.OK && !st.subst[e.signal]
	if p := st.pending; p != nil && measured && obs.Ready >= p.To && obs.Now.Sub(p.At) >= e.after {
		st.pending = nil
		expected := p.Base * float64(p.To-p.From) / float64(p.From)
		if v.V-p.Base >= e.threshold*expected {
			d.Notes = append(d.Notes, e.reason(e.effective, p, v.V))
			st.blocked = nil // a scale-out a raised minimum made while blocked
			return
		}
		p.Judged, p.Got = obs.Now, v.V
		st.blocked = p
		d.Notes = append(d.Notes, e.reason(e.ineffective, p, v.V))
		return
	}
	b := st.blocked
	if b == nil {
		return
	}
	if e.block > 0 && obs.Now.Sub(b.Judged) >= e.block {
		st.blocked = nil
		d.Notes = append(d.Notes, model.Because("ineffective scale-up %v → %v has blocked scale-out for %v: one more is allowed, and judged",
			model.Int(b.From), model.Int(b.To), model.Dur(e.block)))
		return
	}
	ref := max(b.Base, b.Got)
	if lift := ref * (1 + e.threshold); measured && v.V >= lift {
		st.blocked = nil
		d.Notes = append(d.Notes, model.Because(e.recovered,
			model.Num(v.V), model.Num(lift), model.Num(ref), model.Num(math.Round(e.threshold*1000)/10)))
	}
}

// holdIneffective is the guard an ineffective scale-out sets: no scale-out
// while it blocks. Scale-ins pass.
func (g *Group) holdIneffective(st *State, cur, out int, d *model.Decision) int {
	b := st.blocked
	if b == nil || out <= cur {
		return out
	}
	return step(d, model.StageGuard, out, cur, g.eff.reason(g.eff.blocking, b, b.Got))
}

// commitEffect records a final decision's scaling for judgement: a
// scale-out awaits one unless another already does, a scale-in forgets it
// and lifts a block. from is the capacity before the decision.
func (g *Group) commitEffect(st *State, from int, d *model.Decision) {
	e := g.eff
	if e == nil || d.Desired == from {
		return
	}
	if d.Desired < from {
		st.pending = nil
		if b := st.blocked; b != nil {
			st.blocked = nil
			d.Notes = append(d.Notes, model.Because("scale-in %v → %v lifts the block of ineffective scale-up %v → %v",
				model.Int(from), model.Int(d.Desired), model.Int(b.From), model.Int(b.To)))
		}
		return
	}
	if st.pending != nil {
		return
	}
	if e.signal >= len(d.Inputs) {
		return
	}
	in := d.Inputs[e.signal]
	if from <= 0 || in.Missing || in.Substituted || in.Value <= 0 {
		return // nothing to expect
	}
	st.pending = &ScaleOut{Signal: e.name, From: from, To: d.Desired, At: d.Time, Base: in.Value}
}

// restoreEffect takes a remembered judgement back if it still applies: the
// group still judges scale-outs, by the same signal, and (for one awaiting
// judgement) has not scaled in since.
func (g *Group) restoreEffect(st *State, pending, blocked *ScaleOut) {
	st.pending, st.blocked = nil, nil
	if g.eff == nil {
		return
	}
	usable := func(s *ScaleOut) bool {
		return s != nil && s.Signal == g.eff.name && s.From > 0 && s.To > s.From && s.Base > 0
	}
	if usable(pending) && pending.To <= st.Desired {
		c := *pending
		st.pending = &c
	}
	if usable(blocked) {
		c := *blocked
		st.blocked = &c
	}
}

func cloneScaleOut(s *ScaleOut) *ScaleOut {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}
