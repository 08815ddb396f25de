package workload

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// erlangExact is the Erlang C from the recursion started at 0.
func erlangExact(n int, a float64) float64 {
	b := 1.0
	for i := 1; i <= n; i++ {
		b = a * b / (float64(i) + a*b)
	}
	return float64(n) * b / (float64(n) - a*(1-b))
}

// The scan's shortcut start agrees with the full recursion.
func TestErlangShortcut(t *testing.T) {
	for _, tc := range []struct {
		n int
		a float64
	}{{1, 0.5}, {2, 1.5}, {6, 4}, {50, 45}, {400, 380}, {1000, 700}, {20000, 19800}, {100000, 99500}} {
		got, want := erlangC(tc.n, tc.a), erlangExact(tc.n, tc.a)
		if math.Abs(got-want) > 1e-12*want+1e-300 {
			t.Errorf("C(%d, %g) = %.17g, want %.17g", tc.n, tc.a, got, want)
		}
	}
	// M/M/2 at a = 1.5 by hand: (a²/2)/(1−ρ) = 4.5 over 1 + a + 4.5 = 7.
	if got := erlangC(2, 1.5); math.Abs(got-4.5/7) > 1e-15 {
		t.Errorf("C(2, 1.5) = %v, want 4.5/7", got)
	}
}

// Demand at a large rate is cheap and on the edge: one instance fewer
// misses the SLO.
func TestDemandLargeRate(t *testing.T) {
	c := mustDefaults(t, "queue").Queue
	q, err := NewQueue(*c, 1)
	if err != nil {
		t.Fatal(err)
	}
	const rate = 10000.0 // 100,000 busy slots of 10 s jobs
	start := time.Now()
	n := q.Demand(rate)
	if el := time.Since(start); el > 50*time.Millisecond {
		t.Errorf("Demand(%g) took %s", rate, el)
	}
	tail := func(c int) float64 {
		return mgnWaitTail(c*4, rate, 10, 1, 60)
	}
	if n < 25001 || tail(n) > 0.01 || tail(n-1) <= 0.01 && n-1 > 25000 {
		t.Errorf("Demand(%g) = %d: tail there %g, one fewer %g", rate, n, tail(n), tail(n-1))
	}
}

// Stratified quantiles reproduce each distribution's mean, and a cap
// cuts the tail.
func TestDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range []dist{
		{kind: shapeExponential, mean: 3},
		{kind: shapeLognormal, mean: 3, sigma: 1},
		{kind: shapePareto, mean: 3, alpha: 2.5},
		{kind: shapeFixed, mean: 3},
	} {
		const n = 200000
		sum := 0.0
		for j := range n {
			sum += d.quantile((float64(j) + r.Float64()) / n)
		}
		if m := sum / n; math.Abs(m-3)/3 > 0.01 {
			t.Errorf("%s: mean %v, want 3", d.kind, m)
		}
	}
	capped := dist{kind: shapePareto, mean: 3, alpha: 1.5, max: 60}
	if got := capped.quantile(1 - 1e-12); got != 60 {
		t.Errorf("capped quantile %v, want 60", got)
	}
	// Poisson draws: mean and variance both λ, small and large.
	for _, mean := range []float64{0.3, 4, 37, 5000} {
		const n = 100000
		var s, s2 float64
		for range n {
			k := poisson(r, mean)
			if k < 0 || k != math.Floor(k) {
				t.Fatalf("poisson(%g) drew %v", mean, k)
			}
			s += k
			s2 += k * k
		}
		m := s / n
		v := s2/n - m*m
		if math.Abs(m-mean) > 4*math.Sqrt(mean/n) || math.Abs(v-mean)/mean > 0.05 {
			t.Errorf("poisson(%g): mean %v, variance %v", mean, m, v)
		}
	}
}

// A rate that is not a finite number ≥ 0 counts as none.
func TestBadRates(t *testing.T) {
	for _, k := range Kinds {
		c := mustDefaults(t, k)
		m, err := New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range []float64{math.NaN(), -5, math.Inf(1), math.Inf(-1)} {
			m.Step(time.Duration(i)*time.Second, time.Second, r, serving("a"))
		}
		if w := m.Work(); w != (Work{}) {
			t.Errorf("%s: work %+v from bad rates", k, w)
		}
		if d := m.Demand(math.NaN()); d != 0 {
			t.Errorf("%s: Demand(NaN) = %d", k, d)
		}
	}
}

// Signal reads, by index, every signal Signals reports, and only those.
func TestSignalReader(t *testing.T) {
	for name, mk := range kinds(t) {
		m := mk(1)
		steps(m, 0, 30, 8, serving("a", "b", "c"))
		r := m.(SignalReader)
		got := map[string]float64{}
		for i, n := range r.SignalNames() {
			got[n] = r.Signal(i)
		}
		if len(got) != len(r.SignalNames()) {
			t.Errorf("%s: a signal is named twice in %v", name, r.SignalNames())
		}
		if diff := cmp.Diff(m.Signals(), got); diff != "" {
			t.Errorf("%s (-Signals +Signal):\n%s", name, diff)
		}
	}
}
