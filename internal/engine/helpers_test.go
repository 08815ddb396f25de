package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// compile parses a one-group config written as the group's YAML body.
func compile(t *testing.T, body string) *Group {
	t.Helper()
	f := parse(t, "groups:\n  - "+strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n    ")+"\n")
	g, err := Compile(f.Groups[0])
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return g
}

func parse(t *testing.T, doc string) *config.File {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse:\n%s\n%v", doc, err)
	}
	return f
}

// runner drives one group tick by tick, committing every decision.
type runner struct {
	t   *testing.T
	g   *Group
	st  *State
	d   model.Decision
	now time.Time
}

func newRunner(t *testing.T, body string) *runner {
	g := compile(t, body)
	return &runner{t: t, g: g, st: NewState(g), now: t0}
}

// at evaluates at t0+offset with the given signal values (name → value) and
// commits the decision.
func (r *runner) at(offset time.Duration, values map[string]float64) *model.Decision {
	r.t.Helper()
	r.now = t0.Add(offset)
	obs := Observation{Now: r.now, Ready: r.st.Desired}
	for name, v := range values {
		i, ok := r.g.SignalIndex(name)
		if !ok {
			r.t.Fatalf("no signal %q", name)
		}
		obs.Samples = append(obs.Samples, Sample{Signal: i, T: r.now, V: v})
	}
	r.g.Evaluate(r.st, obs, &r.d)
	r.g.Commit(r.st, &r.d)
	return &r.d
}

func explain(d *model.Decision) string {
	var b strings.Builder
	d.WriteText(&b)
	return b.String()
}

func input(d *model.Decision, name string) model.SignalValue {
	for _, in := range d.Inputs {
		if in.Name == name {
			return in
		}
	}
	return model.SignalValue{Name: name + "?"}
}
