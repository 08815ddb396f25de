package workload

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Distribution kinds, as configs name them.
const (
	distFixed       = "fixed"
	distExponential = "exponential"
	distLognormal   = "lognormal"
	distPareto      = "pareto"
)

// shape is a distribution's kind, decided once from its name so that
// drawing a value does not compare strings.
type shape uint8

const (
	shapeFixed shape = iota
	shapeExponential
	shapeLognormal
	shapePareto
)

// shapeNames are the shapes' names, by shape.
var shapeNames = [...]string{shapeFixed: distFixed, shapeExponential: distExponential, shapeLognormal: distLognormal, shapePareto: distPareto}

func (k shape) String() string { return shapeNames[k] }

// shapeOf is the shape a config names; false if none.
func shapeOf(name string) (shape, bool) {
	i := slices.Index(shapeNames[:], name)
	return shape(max(i, 0)), i >= 0
}

// Durations is a distribution of service times.
type Durations struct {
	Dist  string          `yaml:"dist" default:"exponential" enum:"fixed,exponential,lognormal,pareto" doc:"The shape: fixed (every one the mean), exponential, lognormal or pareto."`
	Mean  config.Duration `yaml:"mean" default:"10s" doc:"The mean."`
	Sigma float64         `yaml:"sigma" default:"1" doc:"lognormal only: the standard deviation of the logarithm; 1 gives a coefficient of variation of 1.31."`
	Alpha float64         `yaml:"alpha" default:"1.5" doc:"pareto only: the tail index, > 1 (the mean is finite); at or below 2 the variance is infinite."`
	Max   config.Duration `yaml:"max" doc:"Times longer are cut to this (a time limit); 0: none. The cut lowers the mean a little; demand is sized with the uncut mean."`
}

// Validate checks the distribution.
func (d *Durations) Validate() error {
	var errs []error
	if d.Mean.D() <= 0 {
		errs = append(errs, config.Problem("mean", "must be > 0, not %s", d.Mean))
	}
	if d.Max.D() != 0 && d.Max.D() < d.Mean.D() {
		errs = append(errs, config.Problem("max", "must be 0 (none) or at least the mean %s, not %s", d.Mean, d.Max))
	}
	errs = append(errs, validateShape(d.Dist, d.Sigma, d.Alpha))
	return errors.Join(errs...)
}

func (d *Durations) dist() dist {
	kind, _ := shapeOf(d.Dist) // validated
	return dist{kind: kind, mean: d.Mean.D().Seconds(), sigma: d.Sigma, alpha: d.Alpha, max: d.Max.D().Seconds()}
}

func validateShape(name string, sigma, alpha float64) error {
	kind, ok := shapeOf(name)
	if !ok {
		return config.Problem("dist", "must be fixed, exponential, lognormal or pareto, not %q", name)
	}
	switch kind {
	case shapeLognormal:
		if !(sigma > 0 && sigma <= 4) {
			return config.Problem("sigma", "must be > 0 and ≤ 4, not %g", sigma)
		}
	case shapePareto:
		if !(alpha > 1 && alpha <= 100) {
			return config.Problem("alpha", "must be > 1 (a finite mean) and ≤ 100, not %g", alpha)
		}
	}
	return nil
}

// dist is a positive distribution given by its mean and shape.
type dist struct {
	kind  shape
	mean  float64
	sigma float64
	alpha float64
	max   float64 // 0: no cap
}

// quantile returns the value below which a fraction u ∈ [0, 1) of the
// distribution lies, cut to max.
func (d dist) quantile(u float64) float64 {
	if q := d.uncut(u); d.max == 0 || q < d.max {
		return q
	}
	return d.max
}

func (d dist) uncut(u float64) float64 {
	switch d.kind {
	case shapeExponential:
		return -d.mean * math.Log1p(-u)
	case shapeLognormal:
		mu := math.Log(d.mean) - d.sigma*d.sigma/2
		return math.Exp(mu + d.sigma*math.Sqrt2*math.Erfinv(2*u-1))
	case shapePareto:
		xm := d.mean * (d.alpha - 1) / d.alpha
		return xm * math.Pow(1-u, -1/d.alpha)
	}
	return d.mean
}

// cv2 is the squared coefficient of variation (variance / mean²); a
// Pareto's infinite variance counts as maxCV2, so queueing formulas stay
// finite.
func (d dist) cv2() float64 {
	const maxCV2 = 10
	switch d.kind {
	case shapeExponential:
		return 1
	case shapeLognormal:
		return min(math.Expm1(d.sigma*d.sigma), maxCV2)
	case shapePareto:
		if d.alpha <= 2 {
			return maxCV2
		}
		return min(1/(d.alpha*(d.alpha-2)), maxCV2)
	}
	return 0
}

// poisson draws a Poisson variate: inversion for small means, PTRS
// (Hörmann 1993, "The transformed rejection method for generating Poisson
// random variables", as in NumPy) for large ones, so a draw costs O(1).
func poisson(r *rand.Rand, mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean < 10 {
		u := r.Float64()
		p := math.Exp(-mean)
		f := p
		k := 0.0
		for u > f && p > 0 {
			k++
			p *= mean / k
			f += p
		}
		return k
	}
	slam := math.Sqrt(mean)
	loglam := math.Log(mean)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mean + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -mean+k*loglam-lg {
			return k
		}
	}
}

// Arrival modes.
const (
	arrivalsPoisson = "poisson"
	arrivalsEven    = "even"
)

// arrivals turns a rate into whole arrivals per step.
type arrivals struct {
	mode  string
	carry float64 // even: the fraction of an arrival not yet submitted
}

func (a *arrivals) draw(r *rand.Rand, mean float64) float64 {
	if a.mode == arrivalsEven {
		a.carry += mean
		n := math.Floor(a.carry + 1e-9)
		a.carry = max(a.carry-n, 0)
		return n
	}
	return poisson(r, mean)
}

func validateArrivals(mode string) error {
	if mode != arrivalsPoisson && mode != arrivalsEven {
		return config.Problem("arrivals", "must be poisson or even, not %q", mode)
	}
	return nil
}

// erlangC is the probability that an arrival waits in an M/M/n queue with
// offered load a = λ/μ (< n).
func erlangC(n int, a float64) float64 {
	c := 1.0
	erlangScan(a, n, func(m int, cm float64) bool {
		if m < n {
			return false
		}
		c = cm
		return true
	})
	return c
}

// erlangScan runs the Erlang B recursion B(m) = a·B(m−1)/(m + a·B(m−1))
// upwards from m = 1 and calls ok(m, C(m, a)) at each m > a, from `from`
// on, until ok returns true; it returns that m. The recursion is stable
// and contracts errors while m < a, so it starts at m0 = a − 12√a − 10
// (when positive) from the fluid value B ≈ 1 − m0/a instead of at 0: the
// start's error shrinks by about e^−72 before m reaches a, and a scan
// costs O(√a + m − a), not O(m).
func erlangScan(a float64, from int, ok func(m int, c float64) bool) int {
	m := 0
	b := 1.0
	if a > 0 {
		if m0 := int(a - 12*math.Sqrt(a) - 10); m0 > 0 {
			m = m0
			b = max(1-float64(m0)/a, 1e-3)
		}
	}
	for {
		m++
		b = a * b / (float64(m) + a*b)
		if float64(m) <= a || m < from {
			continue
		}
		c := float64(m) * b / (float64(m) - a*(1-b))
		if ok(m, c) {
			return m
		}
	}
}
