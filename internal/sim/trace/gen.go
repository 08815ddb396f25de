package trace

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Grid is where a generator samples: one point every Step over [0,
// Duration). Point i is at i·Step and takes the generator's value there; the
// last point holds until Duration.
type Grid struct {
	Step     time.Duration
	Duration time.Duration
}

// maxPoints bounds a generated trace (a year at one point a second is 31.5M).
const maxPoints = 100_000_000

// Validate reports a grid that has no point or too many.
func (g Grid) Validate() error {
	switch {
	case g.Step <= 0:
		return fmt.Errorf("grid step must be > 0, not %v", g.Step)
	case g.Duration <= 0:
		return fmt.Errorf("grid duration must be > 0, not %v", g.Duration)
	case (g.Duration-1)/g.Step+1 > maxPoints:
		return fmt.Errorf("grid of %v every %v has more than %d points", g.Duration, g.Step, maxPoints)
	}
	return nil
}

// sample builds a trace on g from f(t); f must return a finite rate ≥ 0.
func sample(g Grid, f func(t time.Duration) float64) (*Trace, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	n := int((g.Duration-1)/g.Step + 1)
	pts := make([]Point, n)
	for i := range pts {
		t := time.Duration(i) * g.Step
		pts[i] = Point{T: t, Rate: f(t)}
	}
	return &Trace{points: pts, end: g.Duration}, nil
}

// params checks generator parameters: each named value must be finite and ≥ 0.
func params(gen string, nv ...any) error {
	var errs []error
	for i := 0; i+1 < len(nv); i += 2 {
		name := nv[i].(string)
		switch v := nv[i+1].(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				errs = append(errs, fmt.Errorf("%s: %s must be a finite number ≥ 0, not %v", gen, name, v))
			}
		case time.Duration:
			if v < 0 {
				errs = append(errs, fmt.Errorf("%s: %s must be ≥ 0, not %v", gen, name, v))
			}
		}
	}
	return errors.Join(errs...)
}

const day = 24 * time.Hour

// Constant is r(t) = rate.
func Constant(g Grid, rate float64) (*Trace, error) {
	if err := params("constant", "rate", rate); err != nil {
		return nil, err
	}
	return sample(g, func(time.Duration) float64 { return rate })
}

// Diurnal is a daily cycle peaking at peak (time of day from t=0):
//
//	r(t) = max(0, base + amplitude·cos(2π·(t − peak)/24h))
//
// so it swings between base − amplitude (12 h from the peak) and base +
// amplitude, with mean base when amplitude ≤ base.
func Diurnal(g Grid, base, amplitude float64, peak time.Duration) (*Trace, error) {
	if err := params("diurnal", "base", base, "amplitude", amplitude); err != nil {
		return nil, err
	}
	return sample(g, func(t time.Duration) float64 {
		phase := float64((t-peak)%day) / float64(day)
		return max(0, base+amplitude*math.Cos(2*math.Pi*phase))
	})
}

// Weekly is a factor to multiply a trace by (see Mul): weekday on Monday to
// Friday, weekend on Saturday and Sunday, where t=0 is midnight on start:
//
//	r(t) = weekend if (start + ⌊t/24h⌋) mod 7 ∈ {Saturday, Sunday}, else weekday
func Weekly(g Grid, start time.Weekday, weekday, weekend float64) (*Trace, error) {
	if err := params("weekly", "weekday", weekday, "weekend", weekend); err != nil {
		return nil, err
	}
	if start < time.Sunday || start > time.Saturday {
		return nil, fmt.Errorf("weekly: start %d is not a weekday", start)
	}
	return sample(g, func(t time.Duration) float64 {
		switch time.Weekday((int64(start) + int64(t/day)) % 7) {
		case time.Saturday, time.Sunday:
			return weekend
		}
		return weekday
	})
}

// Spike is one rectangular spike of height times the base, width long:
//
//	r(t) = base·height for at ≤ t < at + width, else base
func Spike(g Grid, base, height float64, at, width time.Duration) (*Trace, error) {
	if err := params("spike", "base", base, "height", height, "at", at, "width", width); err != nil {
		return nil, err
	}
	return sample(g, func(t time.Duration) float64 {
		if t >= at && t < at+width {
			return base * height
		}
		return base
	})
}

// Ramp goes linearly from a at t=0 to b at the grid's end:
//
//	r(t) = a + (b − a)·t/Duration
func Ramp(g Grid, a, b float64) (*Trace, error) {
	if err := params("ramp", "a", a, "b", b); err != nil {
		return nil, err
	}
	return sample(g, func(t time.Duration) float64 {
		return a + (b-a)*float64(t)/float64(g.Duration)
	})
}

// FlashCrowd is a sudden crowd: base until at, a linear rise to k times the
// base over rise (seconds, typically), then an exponential decay back with
// time constant decay (minutes, typically):
//
//	r(t) = base                                        t < at
//	r(t) = base·(1 + (k−1)·(t − at)/rise)              at ≤ t < at + rise
//	r(t) = base·(1 + (k−1)·exp(−(t − at − rise)/decay)) t ≥ at + rise
//
// A rise of 0 jumps straight to k·base.
func FlashCrowd(g Grid, base, k float64, at, rise, decay time.Duration) (*Trace, error) {
	if err := params("flash crowd", "base", base, "k", k, "at", at, "rise", rise); err != nil {
		return nil, err
	}
	if decay <= 0 {
		return nil, fmt.Errorf("flash crowd: decay must be > 0, not %v", decay)
	}
	return sample(g, func(t time.Duration) float64 {
		switch {
		case t < at:
			return base
		case t < at+rise:
			return base * (1 + (k-1)*float64(t-at)/float64(rise))
		}
		return base * (1 + (k-1)*math.Exp(-float64(t-at-rise)/float64(decay)))
	})
}

// Noise is a multiplicative noise factor to multiply a trace by (see Mul):
// independent log-normal draws with mean 1,
//
//	r(t) = exp(sigma·Z − sigma²/2), Z ~ N(0, 1)
//
// from a PCG generator seeded with seed, so the same seed gives the same
// trace. A sigma of 0 gives 1 everywhere.
func Noise(g Grid, sigma float64, seed uint64) (*Trace, error) {
	if err := params("noise", "sigma", sigma); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return sample(g, func(time.Duration) float64 {
		return math.Exp(sigma*rng.NormFloat64() - sigma*sigma/2)
	})
}

// Mul multiplies traces point by point; they must share points and length
// (generated on the same grid).
func Mul(a *Trace, more ...*Trace) (*Trace, error) {
	return combine("multiply", func(x, y float64) float64 { return x * y }, a, more)
}

// Add adds traces point by point; they must share points and length
// (generated on the same grid).
func Add(a *Trace, more ...*Trace) (*Trace, error) {
	return combine("add", func(x, y float64) float64 { return x + y }, a, more)
}

func combine(verb string, op func(x, y float64) float64, a *Trace, more []*Trace) (*Trace, error) {
	pts := a.Points()
	for j, b := range more {
		if len(b.points) != len(pts) || b.end != a.end {
			return nil, fmt.Errorf("%s traces: trace %d has %d points over %v, the first %d over %v: generate them on the same grid",
				verb, j+2, len(b.points), b.end, len(pts), a.end)
		}
		for i := range pts {
			if b.points[i].T != pts[i].T {
				return nil, fmt.Errorf("%s traces: trace %d has a point at %v where the first has one at %v", verb, j+2, b.points[i].T, pts[i].T)
			}
			pts[i].Rate = op(pts[i].Rate, b.points[i].Rate)
			if math.IsInf(pts[i].Rate, 0) {
				return nil, fmt.Errorf("%s traces: rate overflows at %v", verb, pts[i].T)
			}
		}
	}
	return &Trace{points: pts, end: a.end}, nil
}
