package trace

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustRead(t *testing.T, csv string) *Trace {
	t.Helper()
	tr, err := Read("t.csv", strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestReadSmall(t *testing.T) {
	// Rows at 0, 10 and 40 s; the last row lasts as long as the one before it
	// (30 s), so the trace ends at 70 s. Arrivals: 2·10 + 4·30 + 0·30 = 140
	// over 70 s, a mean of 2/s.
	tr := mustRead(t, "t,rate\n0,2\n10, 4\n40,0\n")
	want := []Point{{0, 2}, {10 * time.Second, 4}, {40 * time.Second, 0}}
	if diff := cmp.Diff(want, tr.Points()); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if got := tr.Duration(); got != 70*time.Second {
		t.Errorf("Duration = %v, want 70s", got)
	}
	if got := tr.Peak(); got != 4 {
		t.Errorf("Peak = %v, want 4", got)
	}
	if got := tr.Mean(); got != 2 {
		t.Errorf("Mean = %v, want 2", got)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{-time.Second, 2}, {0, 2}, {9999 * time.Millisecond, 2}, {10 * time.Second, 4}, {39 * time.Second, 4}, {40 * time.Second, 0}, {time.Hour, 0}} {
		if got := tr.RateAt(c.at); got != c.want {
			t.Errorf("RateAt(%v) = %v, want %v", c.at, got, c.want)
		}
	}
}

func TestReadFractionalSeconds(t *testing.T) {
	tr := mustRead(t, "t,rate\n0,1\n0.5,3\n")
	if got := tr.Duration(); got != time.Second {
		t.Errorf("Duration = %v, want 1s", got)
	}
	if got := tr.Mean(); got != 2 {
		t.Errorf("Mean = %v, want 2", got)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct {
		name, csv string
		want      []string
	}{
		{"empty", "", []string{"x.csv: empty file"}},
		{"header", "time,rate\n0,1\n1,1\n", []string{`x.csv:1: header is "time,rate", want t,rate`}},
		{"header extra column", "t,rate,x\n", []string{"x.csv:1: header"}},
		{"one row", "t,rate\n0,1\n", []string{"x.csv: 1 rows after the header: a trace needs at least two"}},
		{"no rows", "t,rate\n", []string{"x.csv: 0 rows"}},
		{"first not at zero", "t,rate\n5,1\n6,1\n", []string{"x.csv:2: the first row must be at t=0"}},
		{"negative t", "t,rate\n0,1\n-1,1\n", []string{"x.csv:3: t must be a number of seconds ≥ 0"}},
		{"not increasing", "t,rate\n0,1\n2,1\n2,1\n1,1\n", []string{"x.csv:4: t 2 is not after the previous row's 2", "x.csv:5: t 1 is not after"}},
		{"bad t", "t,rate\n0,1\nabc,1\n", []string{`x.csv:3: t must be a number of seconds ≥ 0, not "abc"`}},
		{"NaN t", "t,rate\n0,1\nNaN,1\n", []string{"x.csv:3: t must be"}},
		{"negative rate", "t,rate\n0,1\n1,-2\n", []string{`x.csv:3: rate must be a finite number ≥ 0, not "-2"`}},
		{"infinite rate", "t,rate\n0,+Inf\n1,1\n", []string{"x.csv:2: rate must be"}},
		{"empty rate", "t,rate\n0,\n1,1\n", []string{"x.csv:2: rate must be"}},
		{"fields", "t,rate\n0,1\n1,1,1\n", []string{"x.csv:3: has 3 fields, want 2"}},
		{"bad quote", "t,rate\n0,1\n0\"000", []string{"x.csv: parse error on line 3"}},
		{"several", "t,rate\n0,x\n1,1\n1,2\n", []string{"x.csv:2: rate", "x.csv:4: t 1 is not after"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Read("x.csv", strings.NewReader(c.csv))
			if err == nil {
				t.Fatalf("Read = %d points, want an error", tr.Len())
			}
			if tr != nil {
				t.Errorf("Read returned a trace with its error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadStopsAfterManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("t,rate\n")
	for i := range 1000 {
		b.WriteString(strings.Repeat("x", i%3+1) + ",1\n")
	}
	_, err := Read("x.csv", strings.NewReader(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != maxErrors {
		t.Errorf("%d errors reported, want %d", n, maxErrors)
	}
}

// randomTrace has n points at random increasing times with random rates.
func randomTrace(rng *rand.Rand, n int) *Trace {
	pts := make([]Point, n)
	t := time.Duration(0)
	for i := range pts {
		pts[i] = Point{T: t, Rate: math.Floor(rng.Float64() * 100)}
		t += time.Duration(1+rng.IntN(10)) * time.Second
	}
	return &Trace{points: pts, end: t}
}

// naiveRateAt scans every point.
func naiveRateAt(tr *Trace, t time.Duration) float64 {
	r := tr.points[0].Rate
	for _, p := range tr.points {
		if p.T <= t {
			r = p.Rate
		}
	}
	return r
}

func TestCursorAgreesWithRateAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		tr := randomTrace(rng, 1+rng.IntN(50))
		c := tr.Cursor()
		at := -5 * time.Second
		for range 200 {
			// Mostly forward, sometimes back, sometimes past the end.
			at += time.Duration(rng.IntN(7000)-1000) * time.Millisecond
			want := naiveRateAt(tr, at)
			if got := c.At(at); got != want {
				t.Fatalf("Cursor.At(%v) = %v, want %v", at, got, want)
			}
			if got := tr.RateAt(at); got != want {
				t.Fatalf("RateAt(%v) = %v, want %v", at, got, want)
			}
		}
	}
}

func TestScaleAndCompress(t *testing.T) {
	tr := mustRead(t, "t,rate\n0,2\n10,4\n40,0\n")
	s, err := tr.Scale(1.5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Point{{0, 3}, {10 * time.Second, 6}, {40 * time.Second, 0}}, s.Points()); diff != "" {
		t.Errorf("Scale(1.5) (-want +got):\n%s", diff)
	}
	if s.Duration() != tr.Duration() || s.Mean() != 3 {
		t.Errorf("Scale(1.5): duration %v mean %v, want 70s and 3", s.Duration(), s.Mean())
	}
	if tr.RateAt(10*time.Second) != 4 {
		t.Error("Scale changed the original trace")
	}

	c, err := tr.Compress(10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Point{{0, 2}, {time.Second, 4}, {4 * time.Second, 0}}, c.Points()); diff != "" {
		t.Errorf("Compress(10) (-want +got):\n%s", diff)
	}
	// Compression keeps the rates and so the mean; the arrivals shrink with
	// the duration.
	if c.Duration() != 7*time.Second || c.Mean() != tr.Mean() || c.Peak() != tr.Peak() {
		t.Errorf("Compress(10): duration %v mean %v peak %v, want 7s 2 4", c.Duration(), c.Mean(), c.Peak())
	}
	slow, err := tr.Compress(0.5)
	if err != nil {
		t.Fatal(err)
	}
	if slow.Duration() != 140*time.Second || slow.RateAt(79*time.Second) != 4 || slow.RateAt(80*time.Second) != 0 {
		t.Errorf("Compress(0.5): duration %v, rate at 79s %v, at 80s %v", slow.Duration(), slow.RateAt(79*time.Second), slow.RateAt(80*time.Second))
	}

	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := tr.Scale(f); err == nil {
			t.Errorf("Scale(%v): no error", f)
		}
		if _, err := tr.Compress(f); err == nil {
			t.Errorf("Compress(%v): no error", f)
		}
	}
	if _, err := mustRead(t, "t,rate\n0,1\n0.000000001,1\n").Compress(4); err == nil {
		t.Error("Compress merging two points: no error")
	}
}
