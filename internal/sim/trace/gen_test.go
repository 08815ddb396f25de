package trace

import (
	"math"
	"testing"
	"time"
)

func rates(tr *Trace) []float64 {
	out := make([]float64, tr.Len())
	for i, p := range tr.points {
		out[i] = p.Rate
	}
	return out
}

func near(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestGenerators(t *testing.T) {
	e := math.Exp
	for _, c := range []struct {
		name string
		gen  func() (*Trace, error)
		want []float64
		end  time.Duration
	}{
		// base 10 ± 4 peaking at 06:00: cos at −π/2, 0, π/2, π.
		{"diurnal", func() (*Trace, error) {
			return Diurnal(Grid{6 * time.Hour, 24 * time.Hour}, 10, 4, 6*time.Hour)
		}, []float64{10, 14, 10, 6}, 24 * time.Hour},
		// 1 ± 3 peaking at 00:00: 1+3, 1+0, 1−3 clamped to 0, 1+0.
		{"diurnal clamped at zero", func() (*Trace, error) {
			return Diurnal(Grid{6 * time.Hour, 24 * time.Hour}, 1, 3, 0)
		}, []float64{4, 1, 0, 1}, 24 * time.Hour},
		// Starting on a Friday: Fri, Sat, Sun, Mon … Thu.
		{"weekly", func() (*Trace, error) {
			return Weekly(Grid{24 * time.Hour, 7 * 24 * time.Hour}, time.Friday, 1, 0.5)
		}, []float64{1, 0.5, 0.5, 1, 1, 1, 1}, 7 * 24 * time.Hour},
		// 2/s, ×5 for [3m, 5m).
		{"spike", func() (*Trace, error) {
			return Spike(Grid{time.Minute, 7 * time.Minute}, 2, 5, 3*time.Minute, 2*time.Minute)
		}, []float64{2, 2, 2, 10, 10, 2, 2}, 7 * time.Minute},
		// 10 → 30 over 4 s: 10 + 20·t/4.
		{"ramp", func() (*Trace, error) { return Ramp(Grid{time.Second, 4 * time.Second}, 10, 30) }, []float64{10, 15, 20, 25}, 4 * time.Second},
		// base 10, k 5, at 10 s, rise 20 s, decay 10 s: 10, 10, 10·(1+4·10/20) = 30,
		// 10·(1+4) = 50, then 10·(1+4e^−1), 10·(1+4e^−2).
		{"flash crowd", func() (*Trace, error) {
			return FlashCrowd(Grid{10 * time.Second, time.Minute}, 10, 5, 10*time.Second, 20*time.Second, 10*time.Second)
		}, []float64{10, 10, 30, 50, 10 * (1 + 4*e(-1)), 10 * (1 + 4*e(-2))}, time.Minute},
		{"flash crowd without rise", func() (*Trace, error) {
			return FlashCrowd(Grid{10 * time.Second, 30 * time.Second}, 10, 5, 10*time.Second, 0, 10*time.Second)
		}, []float64{10, 50, 10 * (1 + 4*e(-1))}, 30 * time.Second},
		// The last point is shorter than the step: 2.5 s at 1 s steps.
		{"constant", func() (*Trace, error) { return Constant(Grid{time.Second, 2500 * time.Millisecond}, 3) }, []float64{3, 3, 3}, 2500 * time.Millisecond},
		{"noise without sigma", func() (*Trace, error) { return Noise(Grid{time.Second, 3 * time.Second}, 0, 7) }, []float64{1, 1, 1}, 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := c.gen()
			if err != nil {
				t.Fatal(err)
			}
			if got := rates(tr); !near(got, c.want, 1e-9) {
				t.Errorf("rates = %v, want %v", got, c.want)
			}
			if tr.Duration() != c.end {
				t.Errorf("Duration = %v, want %v", tr.Duration(), c.end)
			}
		})
	}
}

func TestDiurnalMeanIsBase(t *testing.T) {
	tr, err := Diurnal(Grid{time.Minute, 3 * 24 * time.Hour}, 100, 60, 14*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m := tr.Mean(); math.Abs(m-100) > 1e-6 {
		t.Errorf("Mean = %v, want 100", m)
	}
	if p := tr.Peak(); math.Abs(p-160) > 1e-9 || tr.RateAt(14*time.Hour) != p {
		t.Errorf("Peak = %v at 14:00 %v, want 160 at 14:00", p, tr.RateAt(14*time.Hour))
	}
}

func TestNoise(t *testing.T) {
	g := Grid{time.Second, 100_000 * time.Second}
	a, err := Noise(g, 0.5, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Noise(g, 0.5, 42)
	c, _ := Noise(g, 0.5, 43)
	if !near(rates(a), rates(b), 0) {
		t.Error("the same seed gave different noise")
	}
	if near(rates(a), rates(c), 0) {
		t.Error("different seeds gave the same noise")
	}
	// Log-normal with σ = 0.5 has mean 1 and standard deviation
	// √(e^0.25 − 1) ≈ 0.53; over 100,000 draws the mean's standard error is
	// 0.0017, so 0.01 is six of them.
	if m := a.Mean(); math.Abs(m-1) > 0.01 {
		t.Errorf("Mean = %v, want 1 ± 0.01", m)
	}
	for _, p := range a.points {
		if !(p.Rate > 0) {
			t.Fatalf("noise factor %v at %v is not > 0", p.Rate, p.T)
		}
	}
}

func TestCombine(t *testing.T) {
	g := Grid{24 * time.Hour, 7 * 24 * time.Hour}
	base, _ := Constant(g, 10)
	week, _ := Weekly(g, time.Saturday, 1, 0.5)
	bump, _ := Spike(g, 1, 3, 2*24*time.Hour, 24*time.Hour)
	m, err := Mul(base, week, bump)
	if err != nil {
		t.Fatal(err)
	}
	// Sat, Sun at 10·0.5; Mon 10·1·3; then weekdays at 10; then Fri 10.
	if got, want := rates(m), []float64{5, 5, 30, 10, 10, 10, 10}; !near(got, want, 0) {
		t.Errorf("Mul = %v, want %v", got, want)
	}
	s, err := Add(base, week, bump)
	if err != nil {
		t.Fatal(err)
	}
	// 10 + 0.5 + 1 on the weekend, 10 + 1 + 3 on Monday, 10 + 1 + 1 after.
	if got, want := rates(s), []float64{11.5, 11.5, 14, 12, 12, 12, 12}; !near(got, want, 0) {
		t.Errorf("Add = %v, want %v", got, want)
	}
	if rates(base)[0] != 10 {
		t.Error("Mul changed its first argument")
	}

	other, _ := Constant(Grid{12 * time.Hour, 7 * 24 * time.Hour}, 1)
	if _, err := Mul(base, other); err == nil {
		t.Error("Mul of traces on different grids: no error")
	}
	shorter, _ := Constant(Grid{24 * time.Hour, 6*24*time.Hour + 1}, 1)
	if _, err := Add(base, shorter); err == nil {
		t.Error("Add of traces of different lengths: no error")
	}
}

func TestGeneratorErrors(t *testing.T) {
	g := Grid{time.Second, time.Minute}
	for name, gen := range map[string]func() (*Trace, error){
		"zero step":          func() (*Trace, error) { return Constant(Grid{0, time.Minute}, 1) },
		"zero duration":      func() (*Trace, error) { return Constant(Grid{time.Second, 0}, 1) },
		"too many points":    func() (*Trace, error) { return Constant(Grid{time.Nanosecond, time.Second}, 1) },
		"negative rate":      func() (*Trace, error) { return Constant(g, -1) },
		"NaN base":           func() (*Trace, error) { return Diurnal(g, math.NaN(), 1, 0) },
		"negative amplitude": func() (*Trace, error) { return Diurnal(g, 1, -1, 0) },
		"bad weekday":        func() (*Trace, error) { return Weekly(g, 7, 1, 1) },
		"negative weekend":   func() (*Trace, error) { return Weekly(g, time.Monday, 1, -1) },
		"negative width":     func() (*Trace, error) { return Spike(g, 1, 2, 0, -time.Second) },
		"infinite ramp":      func() (*Trace, error) { return Ramp(g, 0, math.Inf(1)) },
		"zero decay":         func() (*Trace, error) { return FlashCrowd(g, 1, 2, 0, 0, 0) },
		"negative k":         func() (*Trace, error) { return FlashCrowd(g, 1, -2, 0, 0, time.Second) },
		"negative sigma":     func() (*Trace, error) { return Noise(g, -0.1, 1) },
	} {
		if tr, err := gen(); err == nil {
			t.Errorf("%s: no error, %d points", name, tr.Len())
		}
	}
}
