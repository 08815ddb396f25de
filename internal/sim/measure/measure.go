package measure

import (
	"fmt"
	"math"
	"time"
)

// Curve is a quantity sampled every Step: V[i] holds over [i·Step,
// (i+1)·Step).
type Curve struct {
	Step time.Duration
	V    []float64
}

// Ints makes a curve of integer samples, such as instance counts.
func Ints(step time.Duration, v []int) Curve {
	c := Curve{Step: step, V: make([]float64, len(v))}
	for i, x := range v {
		c.V[i] = float64(x)
	}
	return c
}

// Duration is the curve's length: len(V)·Step.
func (c Curve) Duration() time.Duration { return time.Duration(len(c.V)) * c.Step }

// InstanceHours is the cost of a curve of instances billed (booting and
// draining included): Σ V[i]·Step, in hours.
func InstanceHours(running Curve) float64 {
	sum := 0.0
	for _, v := range running.V {
		sum += v
	}
	return sum * running.Step.Hours()
}

// ViolationFraction is the fraction of steps flagged as violating the SLO,
// in [0, 1]; 0 for no steps.
func ViolationFraction(violated []bool) float64 {
	if len(violated) == 0 {
		return 0
	}
	n := 0
	for _, v := range violated {
		if v {
			n++
		}
	}
	return float64(n) / float64(len(violated))
}

// Elasticity holds the SPEC Research Group's elasticity metrics of a supply
// curve against a demand curve (Herbst, Krebs, Oikonomou, Kousiouris,
// Evangelinou, Iosup, Kounev: "Ready for Rain? A View from SPEC Research on
// the Future of Cloud Metrics", SPEC-RG-2016-01, and the BUNGEE benchmark,
// github.com/NikolasHerbst/BUNGEE, tools.descartes.bungee.metric). Over T
// with steps Δt, demand d and supply s in instances:
//
//	ThetaU = 100/T · Σ max(d−s, 0)/max(d, 1) · Δt   under-provisioning accuracy, %
//	ThetaO = 100/T · Σ max(s−d, 0)/max(d, 1) · Δt   over-provisioning accuracy, %
//	TauU   = 100/T · Σ Δt·[s < d]                   under-provisioning timeshare, %
//	TauO   = 100/T · Σ Δt·[s > d]                   over-provisioning timeshare, %
//	Jitter = (Σ|Δs| − Σ|Δd|) / T, T in minutes      adaptations per minute
//
// The accuracies follow the report's form normalised by demand, so a missing
// instance weighs more at low demand; the report divides by d, and max(d, 1)
// is ebb's guard for steps without demand (demand is in whole instances, so
// it changes nothing elsewhere). BUNGEE's own UnderprovisionAccuracy is the
// unnormalised area Σ max(d−s, 0)·Δt / T in instances; ebb reports the
// normalised one. Jitter counts adaptations as BUNGEE's Jitter metric does:
// every instance added or removed is one, so a step from 2 to 5 counts 3.
// Jitter is negative when supply moves less often than demand (it lags or
// smooths), positive when it oscillates more.
type Elasticity struct {
	ThetaU float64
	ThetaO float64
	TauU   float64
	TauO   float64
	Jitter float64
}

// Elasticities measures supply against demand; both must share step and
// length.
func Elasticities(demand, supply Curve) (Elasticity, error) {
	if err := sameShape("supply", demand, supply); err != nil {
		return Elasticity{}, err
	}
	var e Elasticity
	n := len(demand.V)
	var adaptD, adaptS float64
	for i, d := range demand.V {
		s := supply.V[i]
		switch {
		case s < d:
			e.ThetaU += (d - s) / max(d, 1)
			e.TauU++
		case s > d:
			e.ThetaO += (s - d) / max(d, 1)
			e.TauO++
		}
		if i > 0 {
			adaptD += math.Abs(d - demand.V[i-1])
			adaptS += math.Abs(s - supply.V[i-1])
		}
	}
	// Δt is constant, so 100/T · Σ x·Δt = 100/n · Σ x.
	pct := 100 / float64(n)
	e.ThetaU *= pct
	e.ThetaO *= pct
	e.TauU *= pct
	e.TauO *= pct
	e.Jitter = (adaptS - adaptD) / demand.Duration().Minutes()
	return e, nil
}

// sameShape checks that c is on the demand curve's step and length, and that
// the demand curve is measurable at all.
func sameShape(what string, demand, c Curve) error {
	switch {
	case demand.Step <= 0:
		return fmt.Errorf("demand curve step must be > 0, not %v", demand.Step)
	case len(demand.V) == 0:
		return fmt.Errorf("demand curve is empty")
	case c.Step != demand.Step || len(c.V) != len(demand.V):
		return fmt.Errorf("%s curve has %d samples every %v, demand %d every %v: they must match",
			what, len(c.V), c.Step, len(demand.V), demand.Step)
	}
	return nil
}

// Run is what a simulated run produced, sampled on the demand curve's step.
type Run struct {
	Policy   string
	Demand   Curve  // instances the load needs
	Ready    Curve  // instances ready to serve: the supply
	Running  Curve  // instances billed: ready, booting and draining
	Violated []bool // per step: whether the SLO was violated
	Actions  int    // scaling actions taken
	LostWork float64
}

// Result is a run's score, as ebb simulate reports it.
type Result struct {
	Policy               string  `json:"policy"`
	CostInstanceHours    float64 `json:"cost_instance_hours"`
	SLOViolationFraction float64 `json:"slo_violation_fraction"`
	ThetaU               float64 `json:"theta_u"`
	ThetaO               float64 `json:"theta_o"`
	TauU                 float64 `json:"tau_u"`
	TauO                 float64 `json:"tau_o"`
	Jitter               float64 `json:"jitter"`
	Actions              int     `json:"actions"`
	LostWork             float64 `json:"lost_work"`
}

// Measure scores a run. Every curve and the violation flags must cover the
// demand curve's steps.
func Measure(r Run) (Result, error) {
	if err := sameShape("ready", r.Demand, r.Ready); err != nil {
		return Result{}, err
	}
	if err := sameShape("running", r.Demand, r.Running); err != nil {
		return Result{}, err
	}
	if len(r.Violated) != len(r.Demand.V) {
		return Result{}, fmt.Errorf("%d violation flags for %d demand samples: they must match", len(r.Violated), len(r.Demand.V))
	}
	e, err := Elasticities(r.Demand, r.Ready)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Policy:               r.Policy,
		CostInstanceHours:    InstanceHours(r.Running),
		SLOViolationFraction: ViolationFraction(r.Violated),
		ThetaU:               e.ThetaU,
		ThetaO:               e.ThetaO,
		TauU:                 e.TauU,
		TauO:                 e.TauO,
		Jitter:               e.Jitter,
		Actions:              r.Actions,
		LostWork:             r.LostWork,
	}, nil
}
