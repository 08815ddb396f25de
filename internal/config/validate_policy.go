package config

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	_ "time/tzdata" // schedules name IANA zones; hosts without zoneinfo still load them

	"github.com/robfig/cron/v3"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// kindNames lists the policy kinds in the order Kind checks them.
var kindNames = []string{"target", "step", "simple", "queue", "streaming", "schedule", "predictive", "fixed"}

// Kinds returns the kinds set on p, in kindNames order. A valid policy has
// exactly one.
func (p *Policy) Kinds() []string {
	set := []bool{p.Target != nil, p.Step != nil, p.Simple != nil, p.Queue != nil,
		p.Streaming != nil, p.Schedule != nil, p.Predictive != nil, p.Fixed != nil}
	var out []string
	for i, ok := range set {
		if ok {
			out = append(out, kindNames[i])
		}
	}
	return out
}

// Kind returns the policy's kind: "target", "step", …; "" when none is set.
func (p *Policy) Kind() string {
	if k := p.Kinds(); len(k) > 0 {
		return k[0]
	}
	return ""
}

// Label is how explanations name the policy: its name, or kind(signal) such as
// "target(cpu)"; schedule and fixed policies read no signal and are labelled
// by kind alone.
func (p *Policy) Label() string {
	if p.Name != "" {
		return p.Name
	}
	var sig string
	switch {
	case p.Target != nil:
		sig = p.Target.Signal
	case p.Step != nil:
		sig = p.Step.Signal
	case p.Simple != nil:
		sig = p.Simple.Signal
	case p.Queue != nil:
		sig = p.Queue.Signal
	case p.Streaming != nil:
		sig = p.Streaming.Backlog
	case p.Predictive != nil:
		sig = p.Predictive.Signal
	default:
		return p.Kind()
	}
	return p.Kind() + "(" + sig + ")"
}

func (v *validator) policy(g *Group, pol *Policy, p string) {
	switch k := pol.Kinds(); len(k) {
	case 0:
		v.errf(p, "must set one of %s", strings.Join(kindNames, ", "))
	case 1:
	default:
		v.errf(p, "sets %s and %s; a policy has exactly one kind", strings.Join(k[:len(k)-1], ", "), k[len(k)-1])
	}
	if t := pol.Target; t != nil {
		tp := join(p, "target")
		v.signalRef(g, join(tp, "signal"), t.Signal)
		v.check(t.Value > 0, join(tp, "value"), "must be > 0")
		v.oneOf(join(tp, "mode"), t.Mode, targetModes)
	}
	if s := pol.Step; s != nil {
		v.step(g, s, join(p, "step"))
	}
	if s := pol.Simple; s != nil {
		sp := join(p, "simple")
		v.signalRef(g, join(sp, "signal"), s.Signal)
		if (s.Above == nil) == (s.Below == nil) {
			v.errf(sp, "set exactly one of above and below")
		}
		v.check(s.Change != 0, join(sp, "change"), "must not be 0")
		v.datapoints(&s.Datapoints, join(sp, "datapoints"))
	}
	if q := pol.Queue; q != nil {
		qp := join(p, "queue")
		v.signalRef(g, join(qp, "signal"), q.Signal)
		v.check(q.PerInstance > 0, join(qp, "per_instance"), "must be > 0")
		v.check(q.Activation >= 0, join(qp, "activation"), "must be ≥ 0")
	}
	if s := pol.Streaming; s != nil {
		v.streaming(g, s, join(p, "streaming"))
	}
	if s := pol.Schedule; s != nil {
		v.schedule(s, join(p, "schedule"))
	}
	if pr := pol.Predictive; pr != nil {
		v.predictive(g, pr, join(p, "predictive"))
	}
	if f := pol.Fixed; f != nil {
		v.require(joinKeys(p, "fixed.desired"))
		v.check(f.Desired >= 0, joinKeys(p, "fixed.desired"), "must be ≥ 0")
	}
}

// step checks a step policy against the rules AWS applies to step
// adjustments, so configs carry over in both directions.
func (v *validator) step(g *Group, s *Step, p string) {
	v.signalRef(g, join(p, "signal"), s.Signal)
	v.require(join(p, "threshold"))
	v.oneOf(join(p, "adjustment"), s.Adjustment, adjustments)
	switch {
	case s.MinMagnitude < 0:
		v.errf(join(p, "min_magnitude"), "must be ≥ 0")
	case s.MinMagnitude > 0 && s.Adjustment != "percent":
		v.errf(join(p, "min_magnitude"), "only applies with adjustment: percent")
	}
	v.check(s.Warmup >= 0, join(p, "warmup"), "must be ≥ 0")
	sp := join(p, "steps")
	if len(s.Steps) == 0 {
		v.errf(sp, "required: at least one step")
		return
	}
	var noFrom, noTo int
	var above, below bool // a bound lies above (below) the threshold
	var ordered []int     // well-formed steps, sorted by from below
	for i, st := range s.Steps {
		ip := index(sp, i)
		switch {
		case st.From == nil && st.To == nil:
			v.errf(ip, "set from, to or both: a step cannot be unbounded on both sides")
		case st.From != nil && st.To != nil && *st.From >= *st.To:
			v.errf(join(ip, "to"), "must be > from (%s)", model.FormatNum(*st.From))
		default:
			ordered = append(ordered, i)
		}
		if st.From == nil {
			if noFrom++; noFrom > 1 {
				v.errf(ip, "only one step may leave out from")
			}
		}
		if st.To == nil {
			if noTo++; noTo > 1 {
				v.errf(ip, "only one step may leave out to")
			}
		}
		for _, b := range []*float64{st.From, st.To} {
			above = above || b != nil && *b > 0
			below = below || b != nil && *b < 0
		}
		if s.Adjustment == "exact" && st.Adjust < 0 {
			v.errf(join(ip, "adjust"), "must be ≥ 0 with adjustment: exact")
		}
	}
	if above && below {
		v.errf(sp, "steps must all lie on one side of the threshold: every bound ≥ 0 (scale out) or every bound ≤ 0 (scale in)")
		return
	}
	lower := func(i int) *float64 { return s.Steps[i].From }
	slices.SortStableFunc(ordered, func(a, b int) int {
		fa, fb := lower(a), lower(b)
		switch {
		case fa == nil && fb == nil:
			return 0
		case fa == nil:
			return -1
		case fb == nil:
			return 1
		}
		return cmp.Compare(*fa, *fb)
	})
	for k := 1; k < len(ordered); k++ {
		a, b := s.Steps[ordered[k-1]], s.Steps[ordered[k]]
		bp := index(sp, ordered[k])
		switch {
		case b.From == nil: // a second step without from, reported above
		case a.To == nil || *a.To > *b.From:
			v.errf(bp, "overlaps steps[%d]", ordered[k-1])
		case *a.To < *b.From:
			v.errf(join(bp, "from"), "leaves a gap after steps[%d], which ends at %s", ordered[k-1], model.FormatNum(*a.To))
		}
	}
	// AWS: a bound beyond the threshold needs a step open toward infinity,
	// or a large breach would match no step.
	if above && noTo == 0 {
		v.errf(sp, "one step must leave out to, so that every breach above the highest bound matches a step")
	}
	if below && noFrom == 0 {
		v.errf(sp, "one step must leave out from, so that every breach below the lowest bound matches a step")
	}
	if s.Adjustment == "exact" || len(ordered) == 0 {
		return
	}
	// A 0 step is a dead band next to the threshold; anywhere else it is a
	// mistake.
	near := ordered[0]
	up := above || !below && s.Steps[near].From != nil
	if !up {
		near = ordered[len(ordered)-1]
	}
	zeros := 0
	for i, st := range s.Steps {
		if st.Adjust != 0 {
			continue
		}
		zeros++
		if i != near {
			v.errf(join(index(sp, i), "adjust"), "must not be 0 (only the step next to the threshold may be 0, as a dead band)")
		}
	}
	if zeros == len(s.Steps) {
		v.errf(sp, "every step adjusts by 0, so the policy never scales")
	}
}

func (v *validator) streaming(g *Group, s *Streaming, p string) {
	for _, r := range []struct{ key, name string }{
		{"input_rate", s.InputRate}, {"throughput", s.Throughput}, {"backlog", s.Backlog}, {"cpu", s.CPU},
	} {
		v.signalRef(g, join(p, r.key), r.name)
	}
	if s.Growth != "" {
		v.signalRef(g, join(p, "growth"), s.Growth)
	}
	v.check(s.CatchUp > 0, join(p, "catch_up"), "must be > 0")
	v.check(s.CPUTarget > 0 && s.CPUTarget <= 1, join(p, "cpu_target"), "must be > 0 and ≤ 1")
	switch {
	case s.Down.CPU <= 0:
		v.errf(joinKeys(p, "down.cpu"), "must be > 0")
	case s.Down.CPU >= s.Up.CPU:
		v.errf(joinKeys(p, "down.cpu"), "must be < up.cpu (%s)", model.FormatNum(s.Up.CPU))
	}
	if s.Up.CPU > 1 {
		v.errf(joinKeys(p, "up.cpu"), "must be ≤ 1")
	}
	if s.Down.BacklogTime >= s.Up.BacklogTime {
		v.errf(joinKeys(p, "down.backlog_time"), "must be < up.backlog_time (%s)", s.Up.BacklogTime)
	}
	v.check(s.MinInterval >= 0, join(p, "min_interval"), "must be ≥ 0")
	v.check(s.MaxParallelism >= 0, join(p, "max_parallelism"), "must be ≥ 0")
}

// Bounds of a predictive policy's history: one season, and the most hourly
// means a profile keeps.
const (
	day        = 24 * time.Hour
	week       = 7 * day
	maxHistory = 8 * week
)

func (v *validator) predictive(g *Group, pr *Predictive, p string) {
	v.signalRef(g, join(p, "signal"), pr.Signal)
	v.check(pr.PerInstance > 0, join(p, "per_instance"), "must be > 0")
	v.oneOf(join(p, "season"), pr.Season, seasons)
	if pr.Lead != nil && *pr.Lead < 0 {
		v.errf(join(p, "lead"), "must be ≥ 0")
	}
	season := day
	if pr.Season == "weekly" {
		season = week
	}
	switch h := pr.History.D(); {
	case h < season:
		v.errf(join(p, "history"), "must be ≥ %s (one season) with season: %s", Duration(season), pr.Season)
	case h > maxHistory:
		v.errf(join(p, "history"), "must be ≤ %s (8 weeks)", Duration(maxHistory))
	}
	switch {
	case pr.MinHistory < 0:
		v.errf(join(p, "min_history"), "must be ≥ 0")
	case pr.MinHistory > pr.History && pr.History >= 0:
		v.errf(join(p, "min_history"), "must be ≤ history (%s)", pr.History)
	}
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (v *validator) schedule(s *Schedule, p string) {
	if s.Timezone == "Local" {
		v.errf(join(p, "timezone"), "must name an IANA time zone such as Europe/Berlin, not the host's Local")
	} else if _, err := time.LoadLocation(s.Timezone); err != nil {
		v.errf(join(p, "timezone"), "unknown time zone %q: use an IANA name such as Europe/Berlin", s.Timezone)
	}
	wp := join(p, "windows")
	if len(s.Windows) == 0 {
		v.errf(wp, "required: at least one window")
	}
	for i, w := range s.Windows {
		ip := index(wp, i)
		v.cron(w.Cron, join(ip, "cron"))
		v.check(w.Duration > 0, join(ip, "duration"), "must be > 0")
		if w.Min == nil && w.Max == nil && w.Desired == nil {
			v.errf(ip, "set at least one of min, max and desired")
		}
		for _, b := range []struct {
			key string
			n   *int
		}{{"min", w.Min}, {"max", w.Max}, {"desired", w.Desired}} {
			if b.n != nil && *b.n < 0 {
				v.errf(join(ip, b.key), "must be ≥ 0")
			}
		}
		if w.Min != nil && w.Max != nil && *w.Min >= 0 && *w.Min > *w.Max {
			v.errf(join(ip, "min"), "must be ≤ max (%d)", *w.Max)
		}
	}
}

func (v *validator) cron(expr, p string) {
	switch {
	case expr == "":
		v.errf(p, "required: a five-field cron expression such as \"0 9 * * MON-FRI\"")
		return
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		v.errf(p, "set the time zone with timezone, not in the cron expression")
		return
	}
	if err := parseCron(expr); err != nil {
		v.errf(p, "invalid cron expression: %v", err)
	}
}

// parseCron parses a five-field cron expression. The cron package is
// third-party parsing of user input: a panic there is a config error too.
func parseCron(expr string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("cannot parse " + strings.TrimSpace(expr))
		}
	}()
	_, err = cronParser.Parse(expr)
	return err
}
