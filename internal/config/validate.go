package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/signal"
)

var (
	groupName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	signalName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// The accepted values of enumerated keys. The enum tags in types.go list the
// same values for the schema; a test keeps them in step.
var (
	aggregates  = []string{"avg", "sum", "max", "min"}
	resources   = []string{"cpu"}
	targetModes = []string{"average", "hpa"}
	adjustments = []string{"change", "exact", "percent"}
	selects     = []string{"max", "min", "disabled"}
	seasons     = []string{"weekly", "daily"}
)

// Validate checks a File built in code, without positions: the checks Parse
// runs after decoding. It does not apply defaults.
func (f *File) Validate() error {
	if errs := validate(f, "", nil, nil); len(errs) > 0 {
		return newErrors(errs)
	}
	return nil
}

// validator collects semantic problems, each at the position of its path or,
// for an absent key, of the nearest ancestor written in the file.
type validator struct {
	file  string
	pos   map[string]position // nil: positions and presence unknown
	errs  []*Error
	kinds *Kinds
	f     *File
}

func validate(f *File, file string, pos map[string]position, k *Kinds) []*Error {
	v := &validator{file: file, pos: pos, kinds: k, f: f}
	v.config(f)
	return v.errs
}

func (v *validator) errf(path, format string, args ...any) {
	e := &Error{File: v.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	for p := path; v.pos != nil; p = parent(p) {
		if at, ok := v.pos[p]; ok {
			e.Line, e.Col = at.line, at.col
			break
		}
		if p == "" {
			break
		}
	}
	v.errs = append(v.errs, e)
}

// has reports whether path was written in the file.
func (v *validator) has(path string) bool {
	if v.pos == nil {
		return true
	}
	_, ok := v.pos[path]
	return ok
}

// check reports msg at path unless ok; an absent key is reported as required.
func (v *validator) check(ok bool, path, msg string, args ...any) {
	if ok {
		return
	}
	msg = fmt.Sprintf(msg, args...)
	if !v.has(path) {
		msg = "required, " + msg
	}
	v.errf(path, "%s", msg)
}

// require reports a key that must be written even though its zero value
// would pass the other checks (a threshold of 0 is fine, a forgotten one is
// not).
func (v *validator) require(path string) {
	if !v.has(path) {
		v.errf(path, "required")
	}
}

func (v *validator) oneOf(path, got string, allowed []string) {
	if !slices.Contains(allowed, got) {
		v.errf(path, "must be one of %s, not %q", strings.Join(allowed, ", "), got)
	}
}

func (v *validator) config(f *File) {
	v.sources(f)
	if len(f.Groups) == 0 {
		v.errf("groups", "required: at least one group")
	}
	names := map[string]int{}
	for i := range f.Groups {
		g := &f.Groups[i]
		p := index("groups", i)
		v.group(g, p)
		if j, dup := names[g.Name]; dup {
			v.errf(join(p, "name"), "duplicate group name %q (also groups[%d])", g.Name, j)
		} else if g.Name != "" {
			names[g.Name] = i
		}
	}
	v.runtime(f)
	budgets := map[string]int{}
	for i := range f.Budgets {
		b := &f.Budgets[i]
		p := index("budgets", i)
		v.budget(b, p, names)
		if j, dup := budgets[b.Name]; dup && b.Name != "" {
			v.errf(join(p, "name"), "duplicate budget name %q (also budgets[%d])", b.Name, j)
		} else {
			budgets[b.Name] = i
		}
	}
}

func (v *validator) group(g *Group, p string) {
	switch {
	case g.Name == "":
		v.errf(join(p, "name"), "required")
	case !groupName.MatchString(g.Name):
		v.errf(join(p, "name"), "invalid name %q: use letters, digits, '-' and '_', starting with a letter or digit", g.Name)
	}
	v.capacity(&g.Capacity, join(p, "capacity"))
	v.check(g.Interval > 0, join(p, "interval"), "must be > 0")
	v.signals(g, join(p, "signals"))

	pp := join(p, "policies")
	if len(g.Policies) == 0 {
		v.errf(pp, "required: at least one policy")
	}
	labels := map[string]int{}
	for i := range g.Policies {
		pol := &g.Policies[i]
		ip := index(pp, i)
		v.policy(g, pol, ip)
		label := pol.Label()
		if label == "" {
			continue
		}
		if j, dup := labels[label]; dup {
			at := ip
			if pol.Name != "" {
				at = join(ip, "name")
			}
			v.errf(at, "duplicate policy name %q (also policies[%d]); set name to tell them apart", label, j)
		} else {
			labels[label] = i
		}
	}
	v.behavior(g, &g.Behavior, join(p, "behavior"))
	for i := range g.Guards {
		gp := index(join(p, "guards"), i)
		gd := &g.Guards[i]
		v.signalRef(g, join(gp, "signal"), gd.Signal)
		v.require(join(gp, "above"))
		if gd.Cap != nil {
			v.check(*gd.Cap >= 0, join(gp, "cap"), "must be ≥ 0")
		}
	}
	v.check(g.Lifecycle.Launch.Boot >= 0, joinKeys(p, "lifecycle.launch.boot"), "must be ≥ 0")
	// Only a boot time that was written: the default's (30s) is a guess,
	// which a short timeout of a fast-starting group rightly ignores.
	if l := g.Lifecycle.Launch; l.Timeout > 0 && l.Boot >= l.Timeout && v.has(joinKeys(p, "lifecycle.launch.boot")) {
		v.errf(joinKeys(p, "lifecycle.launch.timeout"), "%s must exceed lifecycle.launch.boot (%s): every launch would time out before it is ready", l.Timeout, l.Boot)
	}
	v.provider(&g.Provider, join(p, "provider"))
	v.providerKind(&g.Provider, join(p, "provider"))
	v.lifecycle(&g.Lifecycle, join(p, "lifecycle"))
	if g.Provider.Kind.IsSet() && g.Lifecycle.Drain.Signal != "" {
		v.errf(join(join(join(p, "lifecycle"), "drain"), "signal"),
			"a %s group's instances are not ebb's processes and cannot be signalled: ask them to finish with drain.http or drain.command", g.Provider.Kind.Kind)
	}
}

func (v *validator) capacity(c *Capacity, p string) {
	// max: 0 is allowed: it drains a group before it is removed.
	v.require(join(p, "max"))
	v.check(c.Max >= 0, join(p, "max"), "must be ≥ 0")
	switch {
	case c.Min < 0:
		v.errf(join(p, "min"), "must be ≥ 0")
	case c.Max >= 0 && c.Min > c.Max:
		v.errf(join(p, "min"), "must be ≤ max (%d)", c.Max)
	}
	if c.Initial != nil && c.Min >= 0 && c.Min <= c.Max && (*c.Initial < c.Min || *c.Initial > c.Max) {
		v.errf(join(p, "initial"), "must be between min (%d) and max (%d)", c.Min, c.Max)
	}
}

// signals checks each signal and that derived signals do not depend on
// themselves, directly or through others.
func (v *validator) signals(g *Group, p string) {
	deps := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(g.Signals)) {
		s := g.Signals[name]
		sp := join(p, name)
		if !signalName.MatchString(name) {
			v.errf(sp, "invalid signal name %q: use letters, digits and '_', not starting with a digit", name)
		}
		if name == signal.Ready {
			v.errf(sp, "%q is reserved: expressions read it as the number of ready instances", name)
		}
		v.signalSource(v.f, &s, sp)
		if s.Expr != "" {
			// Every name is accepted here so that unknown ones can be
			// reported with the declared list.
			e, err := signal.Compile(s.Expr, func(string) bool { return true })
			if err != nil {
				// expr's messages draw the source and a caret on more
				// lines; the first line says it all.
				msg, _, _ := strings.Cut(err.Error(), "\n")
				v.errf(join(sp, "expr"), "%s", msg)
			} else {
				for _, d := range e.Deps() {
					if _, ok := g.Signals[d]; ok {
						deps[name] = append(deps[name], d)
					} else {
						v.errf(join(sp, "expr"), "%s", unknownSignal(g, d))
					}
				}
			}
		}
		v.check(s.Window > 0, join(sp, "window"), "must be > 0")
		v.check(s.Stale > 0, join(sp, "stale"), "must be > 0")
		v.oneOf(join(sp, "aggregate"), s.Aggregate, aggregates)
		if s.Resource != "" {
			v.oneOf(join(sp, "resource"), s.Resource, resources)
		}
	}
	for _, c := range cycles(deps) {
		v.errf(join(join(p, c[0]), "expr"), "derived signals form a cycle: %s", strings.Join(c, " → "))
	}
}

// cycles finds dependency cycles, each reported once, starting at its
// smallest name and ending where it started: [a b a].
func cycles(deps map[string][]string) [][]string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var out [][]string
	found := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		state[n] = active
		stack = append(stack, n)
		for _, d := range deps[n] {
			switch state[d] {
			case unseen:
				visit(d)
			case active:
				i := slices.Index(stack, d)
				c := slices.Clone(stack[i:])
				m := slices.Index(c, slices.Min(c))
				c = append(c[m:], c[:m]...)
				c = append(c, c[0])
				if key := strings.Join(c, "\x00"); !found[key] {
					found[key] = true
					out = append(out, c)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range slices.Sorted(maps.Keys(deps)) {
		if state[n] == unseen {
			visit(n)
		}
	}
	return out
}

// signalRef checks that a policy or guard names a signal of the group.
func (v *validator) signalRef(g *Group, path, name string) {
	if name == "" {
		v.errf(path, "required: one of the group's signals (%s)", declared(g))
		return
	}
	if _, ok := g.Signals[name]; !ok {
		v.errf(path, "%s", unknownSignal(g, name))
	}
}

func unknownSignal(g *Group, name string) string {
	return fmt.Sprintf("unknown signal %q (%s)", name, declared(g))
}

func declared(g *Group) string {
	if len(g.Signals) == 0 {
		return "the group declares no signals"
	}
	return "declared: " + strings.Join(slices.Sorted(maps.Keys(g.Signals)), ", ")
}

func (v *validator) behavior(g *Group, b *Behavior, p string) {
	v.direction(&b.Up.Directional, b.Up.Limits, join(p, "up"))
	v.direction(&b.Down.Directional, b.Down.Limits, join(p, "down"))
	v.check(b.Warmup >= 0, join(p, "warmup"), "must be ≥ 0")
	v.check(b.Up.Window >= 0, joinKeys(p, "up.window"), "must be ≥ 0")
	v.check(b.Down.Window >= 0, joinKeys(p, "down.window"), "must be ≥ 0")
	if e := b.Up.Effectiveness; e != nil {
		v.effectiveness(g, e, joinKeys(p, "up.effectiveness"))
	}
}

func (v *validator) effectiveness(g *Group, e *Effectiveness, p string) {
	v.signalRef(g, join(p, "signal"), e.Signal)
	v.check(e.Threshold > 0 && e.Threshold <= 1, join(p, "threshold"), "must be > 0 and ≤ 1")
	if e.After != nil && *e.After < 0 {
		v.errf(join(p, "after"), "must be ≥ 0")
	}
	v.check(e.Block >= 0, join(p, "block"), "must be ≥ 0")
}

func (v *validator) direction(d *Directional, limits []Limit, p string) {
	for i, l := range limits {
		lp := index(join(p, "limits"), i)
		switch {
		case l.Count < 0:
			v.errf(join(lp, "count"), "must be > 0")
		case l.Percent < 0:
			v.errf(join(lp, "percent"), "must be > 0")
		case l.Count > 0 && l.Percent > 0:
			v.errf(lp, "set count or percent, not both")
		case l.Count == 0 && l.Percent == 0:
			v.errf(lp, "set count or percent (> 0)")
		}
		v.check(l.Per > 0, join(lp, "per"), "must be > 0")
	}
	v.oneOf(join(p, "select"), d.Select, selects)
	v.check(d.Cooldown >= 0, join(p, "cooldown"), "must be ≥ 0")
	v.check(d.Tolerance >= 0 && d.Tolerance < 1, join(p, "tolerance"), "must be ≥ 0 and < 1")
	v.datapoints(&d.Datapoints, join(p, "datapoints"))
}

// datapoints checks an M-of-N rule: 1 ≤ need ≤ of ≤ 64.
func (v *validator) datapoints(m *MofN, p string) {
	if m.Need < 1 {
		v.errf(join(p, "need"), "must be ≥ 1")
	}
	switch {
	case m.Of > 64:
		v.errf(join(p, "of"), "must be ≤ 64")
	case m.Need >= 1 && m.Of < m.Need:
		v.errf(join(p, "of"), "must be ≥ need (%d)", m.Need)
	}
}

func (v *validator) budget(b *Budget, p string, groups map[string]int) {
	if b.Name == "" {
		v.errf(join(p, "name"), "required")
	}
	v.check(b.Max > 0, join(p, "max"), "must be > 0")
	gp := join(p, "groups")
	if len(b.Groups) == 0 {
		v.errf(gp, "required: at least one group")
	}
	for _, name := range slices.Sorted(maps.Keys(b.Groups)) {
		if _, ok := groups[name]; !ok {
			v.errf(join(gp, name), "unknown group %q (groups: %s)", name, strings.Join(slices.Sorted(maps.Keys(groups)), ", "))
		}
		if w := b.Groups[name]; w <= 0 {
			v.errf(join(gp, name), "must be > 0, not %s", model.FormatNum(w))
		}
	}
}
