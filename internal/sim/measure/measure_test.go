package measure

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var approx = cmpopts.EquateApprox(0, 1e-9)

func TestInstanceHours(t *testing.T) {
	// 1 + 2 + 3 instances for 20 minutes each: 6 · 1/3 h = 2 instance-hours.
	if got := InstanceHours(Ints(20*time.Minute, []int{1, 2, 3})); math.Abs(got-2) > 1e-12 {
		t.Errorf("InstanceHours = %v, want 2", got)
	}
	// 0.5 + 1.5 instances for 90 s: 2 · 90 s = 180 s = 0.05 h.
	if got := InstanceHours(Curve{90 * time.Second, []float64{0.5, 1.5}}); math.Abs(got-0.05) > 1e-12 {
		t.Errorf("InstanceHours = %v, want 0.05", got)
	}
	if got := InstanceHours(Curve{time.Second, nil}); got != 0 {
		t.Errorf("InstanceHours of nothing = %v, want 0", got)
	}
}

func TestViolationFraction(t *testing.T) {
	for _, c := range []struct {
		v    []bool
		want float64
	}{
		{nil, 0},
		{[]bool{false, true, false, false}, 0.25}, // 1 of 4
		{[]bool{true, true, true}, 1},
		{[]bool{false, false}, 0},
	} {
		if got := ViolationFraction(c.v); got != c.want {
			t.Errorf("ViolationFraction(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestElasticitiesGolden(t *testing.T) {
	for _, c := range []struct {
		name           string
		step           time.Duration
		demand, supply []int
		want           Elasticity
	}{
		{
			// Five 1-minute steps, T = 5 min.
			//   d: 2 2 4 4 1
			//   s: 2 3 3 4 2
			// under at step 2 by 1 of 4; over at step 1 by 1 of 2 and at step 4 by 1 of 1.
			// θU = 100/5 · (1/4)       = 5
			// θO = 100/5 · (1/2 + 1/1) = 30
			// τU = 100/5 · 1           = 20
			// τO = 100/5 · 2           = 40
			// adaptations: demand 0+2+0+3 = 5, supply 1+0+1+2 = 4;
			// jitter = (4 − 5)/5 min = −0.2 per minute.
			name: "mixed", step: time.Minute,
			demand: []int{2, 2, 4, 4, 1}, supply: []int{2, 3, 3, 4, 2},
			want: Elasticity{ThetaU: 5, ThetaO: 30, TauU: 20, TauO: 40, Jitter: -0.2},
		},
		{
			// Two 30-second steps, T = 1 min. Step 0 has no demand and one
			// instance: over by 1/max(0, 1) = 1.
			// θO = 100/2 · 1 = 50, τO = 100/2 · 1 = 50.
			// adaptations: demand 0, supply 1: jitter = 1/1 min = 1.
			name: "over without demand", step: 30 * time.Second,
			demand: []int{0, 0}, supply: []int{1, 0},
			want: Elasticity{ThetaO: 50, TauO: 50, Jitter: 1},
		},
		{
			// Four 15-second steps, T = 1 min; supply lags demand by a step.
			//   d: 1 3 3 1
			//   s: 1 1 3 3
			// under at step 1 by 2 of 3: θU = 100/4 · 2/3 = 16.67, τU = 25
			// over at step 3 by 2 of 1:  θO = 100/4 · 2   = 50,    τO = 25
			// adaptations: demand 2+0+2 = 4, supply 0+2+0 = 2: jitter = −2/1 min.
			name: "lagging", step: 15 * time.Second,
			demand: []int{1, 3, 3, 1}, supply: []int{1, 1, 3, 3},
			want: Elasticity{ThetaU: 100.0 / 4 * 2 / 3, ThetaO: 50, TauU: 25, TauO: 25, Jitter: -2},
		},
		{
			// Supply oscillates around a flat demand over 2 minutes.
			// over at steps 1, 3 by 1 of 2: θO = 100/4 · 1 = 25, τO = 50.
			// adaptations: demand 0, supply 1+1+1 = 3: jitter = 3/2 min = 1.5.
			name: "oscillating", step: 30 * time.Second,
			demand: []int{2, 2, 2, 2}, supply: []int{2, 3, 2, 3},
			want: Elasticity{ThetaO: 25, TauO: 50, Jitter: 1.5},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Elasticities(Ints(c.step, c.demand), Ints(c.step, c.supply))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got, approx); diff != "" {
				t.Errorf("Elasticities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestElasticitiesShape(t *testing.T) {
	d := Ints(time.Second, []int{1, 2})
	for name, s := range map[string]Curve{
		"shorter":    Ints(time.Second, []int{1}),
		"other step": Ints(2*time.Second, []int{1, 2}),
	} {
		if _, err := Elasticities(d, s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Elasticities(Curve{time.Second, nil}, Curve{time.Second, nil}); err == nil {
		t.Error("empty curves: no error")
	}
	if _, err := Elasticities(Curve{0, []float64{1}}, Curve{0, []float64{1}}); err == nil {
		t.Error("zero step: no error")
	}
}

// randomCurve is n random instance counts in [0, 20).
func randomCurve(rng *rand.Rand, step time.Duration, n int) Curve {
	c := Curve{Step: step, V: make([]float64, n)}
	for i := range c.V {
		c.V[i] = float64(rng.IntN(20))
	}
	return c
}

func TestElasticityProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for k := range 200 {
		n := 1 + rng.IntN(300)
		step := time.Duration(1+rng.IntN(60)) * time.Second
		d := randomCurve(rng, step, n)
		extra := randomCurve(rng, step, n)
		above := Curve{Step: step, V: make([]float64, n)}
		below := Curve{Step: step, V: make([]float64, n)}
		for i := range d.V {
			above.V[i] = d.V[i] + extra.V[i]
			below.V[i] = max(0, d.V[i]-extra.V[i])
		}
		e, err := Elasticities(d, above)
		if err != nil {
			t.Fatal(err)
		}
		if e.ThetaU != 0 || e.TauU != 0 || e.ThetaO < 0 || e.TauO < 0 || e.TauO > 100 {
			t.Fatalf("case %d: supply ≥ demand everywhere gave %+v", k, e)
		}
		e, _ = Elasticities(d, below)
		if e.ThetaO != 0 || e.TauO != 0 || e.ThetaU < 0 || e.ThetaU > 100 || e.TauU > 100 {
			t.Fatalf("case %d: supply ≤ demand everywhere gave %+v", k, e)
		}
		if e, _ = Elasticities(d, d); e != (Elasticity{}) {
			t.Fatalf("case %d: supply = demand gave %+v, want all zero", k, e)
		}
		s := randomCurve(rng, step, n)
		e, _ = Elasticities(d, s)
		if e.TauU+e.TauO > 100+1e-9 {
			t.Fatalf("case %d: timeshares %v + %v exceed 100%%", k, e.TauU, e.TauO)
		}
	}
}

func TestInstanceHoursIsLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 200 {
		n := 1 + rng.IntN(500)
		step := time.Duration(1+rng.IntN(600)) * time.Second
		x, y := randomCurve(rng, step, n), randomCurve(rng, step, n)
		a, b := rng.Float64()*10, rng.Float64()*10
		z := Curve{Step: step, V: make([]float64, n)}
		for i := range z.V {
			z.V[i] = a*x.V[i] + b*y.V[i]
		}
		got, want := InstanceHours(z), a*InstanceHours(x)+b*InstanceHours(y)
		if math.Abs(got-want) > 1e-9*max(1, want) {
			t.Fatalf("InstanceHours(%v·x + %v·y) = %v, want %v", a, b, got, want)
		}
	}
}

func TestMeasure(t *testing.T) {
	// The "mixed" golden case with a running curve one above ready (a
	// booting or draining instance each step): (3+4+4+5+3)·1 min = 19/60 h.
	r := Run{
		Policy:   "target",
		Demand:   Ints(time.Minute, []int{2, 2, 4, 4, 1}),
		Ready:    Ints(time.Minute, []int{2, 3, 3, 4, 2}),
		Running:  Ints(time.Minute, []int{3, 4, 4, 5, 3}),
		Violated: []bool{false, false, true, false, false},
		Actions:  4,
		LostWork: 0,
	}
	got, err := Measure(r)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Policy: "target", CostInstanceHours: 19.0 / 60, SLOViolationFraction: 0.2,
		ThetaU: 5, ThetaO: 30, TauU: 20, TauO: 40, Jitter: -0.2, Actions: 4}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("Measure (-want +got):\n%s", diff)
	}

	b, err := json.Marshal(Result{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"policy":"","cost_instance_hours":0,"slo_violation_fraction":0,"theta_u":0,"theta_o":0,"tau_u":0,"tau_o":0,"jitter":0,"actions":0,"lost_work":0}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}

	for name, bad := range map[string]func(r *Run){
		"short ready":   func(r *Run) { r.Ready.V = r.Ready.V[:4] },
		"short running": func(r *Run) { r.Running.V = r.Running.V[1:] },
		"running step":  func(r *Run) { r.Running.Step = time.Second },
		"short flags":   func(r *Run) { r.Violated = r.Violated[:1] },
	} {
		rr := r
		bad(&rr)
		if _, err := Measure(rr); err == nil || !strings.Contains(err.Error(), "must match") {
			t.Errorf("%s: error %v, want one saying they must match", name, err)
		}
	}
}
