package engine

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
)

const twoPolicies = `
name: g
capacity: {min: 1, max: 100, initial: 10}
signals: {a: {}, b: {}}
policies:
  - {name: pa, queue: {signal: a, per_instance: 1}}
  - {name: pb, queue: {signal: b, per_instance: 1}}
  - {name: quiet, simple: {signal: a, above: 1000, change: 5}}
behavior:
  up: {tolerance: 0, limits: []}
  down: {tolerance: 0, window: 0s, limits: []}
`

func ab(a, b float64) map[string]float64 { return map[string]float64{"a": a, "b": b} }

func TestCombine(t *testing.T) {
	play(t, twoPolicies, []tick{
		// Scale out takes the largest recommendation; the abstaining simple
		// policy neither pushes nor blocks.
		{at: 0, values: ab(14, 12), want: 14, because: "pa asks for 14, the largest scale-out"},
		// One policy wanting more wins even when the other wants less.
		{at: 15 * time.Second, values: ab(3, 20), want: 20, because: "pb asks for 20"},
		// Scale in only when every policy agrees, to the largest of theirs.
		{at: 30 * time.Second, values: ab(20, 5), want: 20, because: "pa holds at 20"},
		{at: 45 * time.Second, values: ab(8, 5), want: 8, because: "all 2 policies agree to scale in; pa asks for the most, 8"},
	})
}

func TestMissingData(t *testing.T) {
	withMode := func(mode string) string {
		return strings.Replace(twoPolicies, "behavior:\n", "behavior:\n  missing: "+mode+"\n", 1)
	}
	tests := []struct {
		name   string
		mode   string
		values map[string]float64
		want   int
		reason string
	}{
		{name: "hold blocks scale-in", mode: "hold", values: map[string]float64{"a": 2}, want: 10, reason: "b missing (no value yet): hold 10"},
		{name: "hold still lets others scale out", mode: "hold", values: map[string]float64{"a": 30}, want: 30, reason: "pa asks for 30"},
		{name: "scale_out treats missing as breaching", mode: "scale_out", values: map[string]float64{"a": 2}, want: 11, reason: "pb asks for 11"},
		{name: "fallback", mode: "{fallback: 25}", values: map[string]float64{"a": 2}, want: 25, reason: "pb asks for 25"},
		{name: "treat_as", mode: "{treat_as: 4}", values: map[string]float64{"a": 2}, want: 4, reason: "pb asks for the most, 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, withMode(tt.mode))
			d := r.at(0, tt.values)
			if d.Desired != tt.want || !strings.Contains(explain(d), tt.reason) {
				t.Fatalf("desired %d, want %d with %q in\n%s", d.Desired, tt.want, tt.reason, explain(d))
			}
		})
	}
	t.Run("stale values count as missing", func(t *testing.T) {
		r := newRunner(t, strings.Replace(twoPolicies, "b: {}", "b: {stale: 30s}", 1))
		r.at(0, ab(10, 10))
		d := r.at(45*time.Second, map[string]float64{"a": 2})
		if d.Desired != 10 || !strings.Contains(explain(d), "b missing (last value 45s ago, stale after 30s): hold 10") {
			t.Fatalf("desired %d, want 10 held by stale b\n%s", d.Desired, explain(d))
		}
		if !input(d, "b").Missing {
			t.Errorf("input b not marked missing: %+v", d.Inputs)
		}
	})
}

func TestDerivedSignals(t *testing.T) {
	r := newRunner(t, `
name: g
capacity: {min: 1, max: 100, initial: 4}
interval: 15s
signals:
  cpu: {}
  mem: {}
  busy: {expr: "max(cpu, mem)"}
  backlog: {}
  growth: {expr: "deriv(backlog)", window: 1m}
policies:
  - target: {signal: busy, value: 0.5}
  - simple: {signal: growth, above: 1, change: 2}
behavior: {up: {limits: []}, down: {window: 0s, limits: []}}
`)
	d := r.at(0, map[string]float64{"cpu": 0.5, "mem": 0.75, "backlog": 0})
	// busy = 0.75 → ceil(4 × 0.75 / 0.5) = 6; growth has one sample: missing → hold.
	if d.Desired != 6 {
		t.Fatalf("desired %d, want 6\n%s", d.Desired, explain(d))
	}
	if got := explain(d); !strings.Contains(got, "busy=0.75") || !strings.Contains(got, "growth=missing") {
		t.Fatalf("inputs not shown:\n%s", got)
	}
	d = r.at(15*time.Second, map[string]float64{"cpu": 0.5, "mem": 0.5, "backlog": 60})
	// growth = 4/s > 1 → simple +2 over 6 = 8; busy 0.5 → 6 holds.
	if d.Desired != 8 || input(d, "growth").Value != 4 {
		t.Fatalf("desired %d growth %v, want 8 and 4\n%s", d.Desired, input(d, "growth").Value, explain(d))
	}
}

// Per-instance values: instances still launching or warming up are left out
// of the group's value.
func TestWarmupAndPerInstance(t *testing.T) {
	g := compile(t, `
name: g
capacity: {min: 1, max: 100, initial: 3}
signals: {cpu: {aggregate: avg}}
policies: [{target: {signal: cpu, value: 0.5}}]
behavior: {warmup: 2m, up: {limits: []}}
`)
	st := NewState(g)
	cpu := func(v float64) []policy.Value { return []policy.Value{{V: v, OK: true}} }
	obs := Observation{Now: t0, Ready: 3, Instances: []Instance{
		{ID: "old-1", Ready: true, Launched: t0.Add(-time.Hour), Values: cpu(0.9)},
		{ID: "old-2", Ready: true, Launched: t0.Add(-time.Hour), Values: cpu(0.7)},
		{ID: "young", Ready: true, Launched: t0.Add(-time.Minute), Values: cpu(0.0)},
		{ID: "booting", Ready: false, Launched: t0, Values: cpu(0.0)},
	}}
	var d model.Decision
	g.Evaluate(st, obs, &d)
	if d.Inputs[0].Value != 0.8 {
		t.Fatalf("cpu = %v, want 0.8 (young and booting instances excluded)\n%s", d.Inputs[0].Value, explain(&d))
	}
	if d.Desired != 5 { // ceil(3 ready × 0.8 / 0.5)
		t.Fatalf("desired %d, want 5\n%s", d.Desired, explain(&d))
	}
}

// apiAndWorkers are two groups sized by the signal want, and dbBudget a
// budget they share.
const (
	apiAndWorkers = `
groups:
  - name: api
    capacity: {min: 1, max: 50, initial: 4}
    signals: {want: {}}
    policies: [{queue: {signal: want, per_instance: 1}}]
    behavior: {up: {tolerance: 0, limits: []}, down: {tolerance: 0, window: 0s}}
  - name: workers
    capacity: {min: 2, max: 50, initial: 2}
    signals: {want: {}}
    policies: [{queue: {signal: want, per_instance: 1}}]
    behavior: {up: {tolerance: 0, limits: []}, down: {tolerance: 0, window: 0s}}
`
	dbBudget = `
budgets:
  - name: db_connections
    max: 100
    groups: {api: 10, workers: 5}
`
)

func TestBudget(t *testing.T) {
	f := parse(t, apiAndWorkers+dbBudget)
	e, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	wants := map[string]float64{"api": 12, "workers": 20}
	obs := func(i int) Observation {
		g := e.Groups[i]
		idx, _ := g.SignalIndex("want")
		return Observation{Samples: []Sample{{Signal: idx, T: t0, V: wants[g.Name]}}}
	}
	ds := e.Step(t0, obs)
	// Staying: 4×10 + 2×5 = 50. api may add 5 (50 more): 9; workers then
	// have no room and stay at 2.
	if ds[0].Desired != 9 || ds[1].Desired != 2 {
		t.Fatalf("desired api %d workers %d, want 9 and 2\n%s\n%s", ds[0].Desired, ds[1].Desired, explain(ds[0]), explain(ds[1]))
	}
	if !strings.Contains(ds[0].Reason(), "budget db_connections allows 9 (50 of 100 in use)") {
		t.Fatalf("reason %q", ds[0].Reason())
	}
	// Scale-in frees room for the others.
	wants = map[string]float64{"api": 3, "workers": 20}
	ds = e.Step(t0.Add(15*time.Second), obs)
	if ds[0].Desired != 3 || ds[1].Desired != 14 {
		t.Fatalf("desired api %d workers %d, want 3 and 14\n%s", ds[0].Desired, ds[1].Desired, explain(ds[1]))
	}
	// Groups are evaluated once per interval.
	if ds := e.Step(t0.Add(20*time.Second), obs); len(ds) != 0 {
		t.Fatalf("%d decisions 5s after the last, want 0", len(ds))
	}
}

// Evaluating the groups one at a time, in any order, then settling decides
// as Step does: budgets are applied in the config's order whatever order
// the groups were evaluated in. Without budgets each group commits on its
// own right after its evaluation.
func TestEvaluateThenSettleOrCommit(t *testing.T) {
	wants := [][]float64{{12, 20}, {3, 20}, {30, 1}, {30, 1}, {2, 40}}
	for _, cfg := range []string{apiAndWorkers + dbBudget, apiAndWorkers} {
		step, split := mustNew(t, parse(t, cfg)), mustNew(t, parse(t, cfg))
		if got, want := split.Budgeted(), strings.Contains(cfg, "budgets"); got != want {
			t.Fatalf("Budgeted() = %v, want %v", got, want)
		}
		for k, w := range wants {
			now := t0.Add(time.Duration(k) * 15 * time.Second)
			obs := func(e *Engine) func(i int) (Observation, bool) {
				return func(i int) (Observation, bool) {
					idx, _ := e.Groups[i].SignalIndex("want")
					return Observation{Samples: []Sample{{Signal: idx, T: now, V: w[i]}}}, true
				}
			}
			var want []int
			for _, d := range step.StepReady(now, obs(step)) {
				want = append(want, d.Desired)
			}
			got := make([]int, 2)
			if split.Budgeted() {
				split.Evaluate(1, now, obs(split))
				split.Evaluate(0, now, obs(split))
				for i, d := range split.Settle() {
					got[i] = d.Desired
				}
			} else {
				for _, i := range []int{1, 0} {
					split.Evaluate(i, now, obs(split))
					got[i] = split.Commit(i).Desired
					if d := split.Commit(i); d != nil {
						t.Fatalf("group %d committed twice", i)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("budgeted %v, tick %d: desired %v, Step decided %v", split.Budgeted(), k, got, want)
			}
		}
	}
}

func mustNew(t *testing.T, f *config.File) *Engine {
	t.Helper()
	e, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecisionText(t *testing.T) {
	r := newRunner(t, twoPolicies)
	d := r.at(0, ab(14, 12))
	got := explain(d)
	for _, want := range []string{
		"g at 2026-01-05T00:00:00Z: 10 → 14 (up)",
		"inputs:  a=14  b=12",
		"pa     14  ",
		"quiet  -   ",
		"combined: 14: pa asks for 14, the largest scale-out",
		"bounds: min 1, max 100",
		"result: 14",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
}

// The tolerance band is set per direction in behavior and reaches the
// ratio-based policies.
func TestTolerancePerDirection(t *testing.T) {
	const g = `
name: g
capacity: {min: 1, max: 100, initial: 10}
signals: {cpu: {}}
policies: [{target: {signal: cpu, value: 0.5}}]
behavior:
  up: {tolerance: 0.05, limits: []}
  down: {tolerance: 0.3, window: 0s, limits: []}
`
	tests := []struct {
		cpu  float64
		want int
	}{
		{cpu: 0.52, want: 10}, // ratio 1.04: inside the 5% up band
		{cpu: 0.53, want: 11}, // ratio 1.06: outside it
		{cpu: 0.36, want: 10}, // ratio 0.72: inside the 30% down band
		{cpu: 0.34, want: 7},  // ratio 0.68: outside it
	}
	for _, tt := range tests {
		r := newRunner(t, g)
		if d := r.at(0, map[string]float64{"cpu": tt.cpu}); d.Desired != tt.want {
			t.Errorf("cpu %v: desired %d, want %d\n%s", tt.cpu, d.Desired, tt.want, explain(d))
		}
	}
}

// In hpa mode the engine hands the policy each instance's value with its
// readiness and warm-up, and the Kubernetes rule counts the unknowns
// conservatively.
func TestTargetHPAThroughEngine(t *testing.T) {
	g := compile(t, `
name: g
capacity: {min: 1, max: 100, initial: 4}
signals: {cpu: {}}
policies: [{target: {signal: cpu, value: 0.5, mode: hpa}}]
behavior: {warmup: 1m, up: {limits: []}, down: {window: 0s, limits: []}}
`)
	cpu := func(v float64) []policy.Value { return []policy.Value{{V: v, OK: true}} }
	old := t0.Add(-time.Hour)
	obs := Observation{Now: t0, Ready: 3, Instances: []Instance{
		{ID: "a", Ready: true, Launched: old, Values: cpu(1.0)},
		{ID: "b", Ready: true, Launched: old, Values: cpu(1.0)},
		{ID: "c", Ready: true, Launched: t0.Add(-10 * time.Second), Values: cpu(0.1)}, // warming up
		{ID: "d", Ready: false, Launched: t0},                                         // launching, no value
	}}
	var d model.Decision
	st := NewState(g)
	g.Evaluate(st, obs, &d)
	// Ratio 2 over a and b; scaling up, the two not-ready count as 0:
	// (1 + 1 + 0 + 0) / 4 / 0.5 = 1 → within tolerance: hold 4.
	if d.Desired != 4 || !strings.Contains(explain(&d), "within tolerance") {
		t.Fatalf("desired %d, want 4 held by the conservative recount\n%s", d.Desired, explain(&d))
	}
	// Once c and d are ready and warm and report, the plain rule applies.
	obs.Now = t0.Add(2 * time.Minute)
	obs.Instances[2].Values = cpu(1.0)
	obs.Instances[3] = Instance{ID: "d", Ready: true, Launched: old, Values: cpu(1.0)}
	g.Evaluate(st, obs, &d)
	if d.Desired != 8 {
		t.Fatalf("desired %d, want 8 = ceil(4 × 1.0 / 0.5)\n%s", d.Desired, explain(&d))
	}
}

// A restarted ebb restores the state: the scale-down window still holds.
func TestMemoryRoundTrip(t *testing.T) {
	r := newRunner(t, body(10, "window: 0s", "window: 300s, limits: []"))
	r.at(0, want(10))
	r.at(time.Minute, want(4))
	m := r.st.Memory()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Memory
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	fresh := NewState(r.g)
	r.g.Restore(fresh, back)
	r.st = fresh
	if d := r.at(2*time.Minute, want(4)); d.Desired != 10 || !strings.Contains(d.Reason(), "scale-down window 5m holds 10") {
		t.Fatalf("after restore: %d (%s), want the window to hold 10", d.Desired, d.Reason())
	}
	if got := r.g.SetDesired(r.st, t0, 1000); got != 100 {
		t.Fatalf("SetDesired(1000) = %d, want clamped to 100", got)
	}
}
