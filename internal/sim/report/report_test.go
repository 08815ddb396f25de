package report

import (
	"flag"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
)

var update = flag.Bool("update", false, "rewrite the golden reports under testdata/")

// synthetic is a run of n steps of 10s: a demand of 2 with a surge to 9
// over the middle fifth, an ebb that follows it one bucket late and
// violates meanwhile, and an oracle with no curves violating nothing.
func synthetic(t *testing.T, n int) Input {
	t.Helper()
	step := 10 * time.Second
	demand, ready, running := make([]float64, n), make([]float64, n), make([]float64, n)
	viol := make([]bool, n)
	oReady, oRunning := make([]float64, n), make([]float64, n)
	lag := max(n/20, 1)
	for k := range n {
		demand[k] = 2
		if k >= 2*n/5 && k < 3*n/5 {
			demand[k] = 9
		}
		ready[k] = 2
		if k >= 2*n/5+lag && k < 3*n/5+lag {
			ready[k] = 9
		}
		running[k] = max(ready[k], demand[k])
		viol[k] = ready[k] < demand[k]
		oReady[k], oRunning[k] = demand[k], demand[k]
	}
	var csv strings.Builder
	csv.WriteString("t,rate\n")
	for k := 0; k <= n; k += max(n/10, 1) {
		fmt.Fprintf(&csv, "%d,%g\n", k*10, demand[min(k, n-1)]*8)
	}
	tr, err := trace.Read("surge.csv", strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	curve := func(v []float64) measure.Curve { return measure.Curve{Step: step, V: v} }
	results := []measure.Result{
		{Policy: "ebb", CostInstanceHours: 12.345, SLOViolationFraction: 0.0512, ThetaU: 7.77, ThetaO: 1.25, TauU: 5, TauO: 5,
			Jitter: -0.125, Actions: 4, LostWork: 0},
		{Policy: "oracle", CostInstanceHours: 10.5, ThetaO: 0, Actions: 2},
		{Policy: "hpa", CostInstanceHours: 20, Actions: 9},
	}
	return Input{
		Params: Params{Config: "configs/workers.yaml", Group: "workers", Trace: "traces/surge.csv", Workload: "queue",
			Scale: 0.5, Compress: 2, Seed: 3, Duration: tr.Duration()},
		Summary: "4 launches (0 failed), 0 jobs lost.",
		Results: results,
		Demand:  curve(demand),
		Series: []Series{
			{Policy: "ebb", Ready: curve(ready), Running: curve(running), Violating: viol},
			{Policy: "oracle", Ready: curve(oReady), Running: curve(oRunning), Violating: make([]bool, n)},
		},
		Trace: tr,
	}
}

// Write renders the Markdown byte for byte as the golden file (rewritten
// with -update), twice the same, and four PNGs of the documented size that
// the Markdown links.
func TestWriteGolden(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps int
	}{
		{name: "short", steps: 360},
		{name: "long", steps: 3 * MaxPoints},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := synthetic(t, tt.steps)
			dir := t.TempDir()
			if err := Write(dir, in); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, Markdown))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".md")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("report.md differs from %s (-want +got):\n%s", golden, d)
			}
			again := t.TempDir()
			if err := Write(again, in); err != nil {
				t.Fatal(err)
			}
			if second, _ := os.ReadFile(filepath.Join(again, Markdown)); string(second) != string(got) {
				t.Error("the same input wrote two different reports")
			}
			for _, f := range []string{DemandPlot, RunningPlot, ViolationsPlot, ArrivalsPlot} {
				if !strings.Contains(string(got), "]("+f+")") {
					t.Errorf("report.md does not link %s", f)
				}
				checkPNG(t, filepath.Join(dir, f))
			}
		})
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		t.Errorf("%s is %d×%d; want %d×%d", filepath.Base(path), b.Dx(), b.Dy(), Width, Height)
	}
}

func TestWriteRejectsMismatchedCurves(t *testing.T) {
	in := synthetic(t, 100)
	in.Series[1].Running.V = in.Series[1].Running.V[:99]
	in.Series[0].Violating = nil
	err := Write(t.TempDir(), in)
	if err == nil {
		t.Fatal("no error for curves that do not cover the demand")
	}
	for _, want := range []string{"oracle: running curve has 99 samples", "ebb: 0 violation flags for 100"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDownsample(t *testing.T) {
	spike := make([]float64, 10_000)
	spike[7_777] = 50
	tests := []struct {
		name string
		v    []float64
		n    int
		agg  Agg
		want []Bucket
	}{
		{name: "short curves are kept", v: []float64{1, 3, 2}, n: 5, agg: Max,
			want: []Bucket{{0, 1, 1}, {1, 2, 3}, {2, 3, 2}}},
		{name: "max", v: []float64{1, 3, 2, 0, 5, 4, 1}, n: 3, agg: Max,
			want: []Bucket{{0, 2, 3}, {2, 4, 2}, {4, 7, 5}}},
		{name: "mean", v: []float64{1, 3, 2, 0, 5, 4, 0}, n: 3, agg: Mean,
			want: []Bucket{{0, 2, 2}, {2, 4, 1}, {4, 7, 3}}},
		{name: "n below 1 is one bucket", v: []float64{1, 3}, n: 0, agg: Max, want: []Bucket{{0, 2, 3}}},
		{name: "empty", v: nil, n: 5, agg: Max, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, Downsample(tt.v, tt.n, tt.agg)); d != "" {
				t.Error(d)
			}
		})
	}
	t.Run("a one-step spike survives", func(t *testing.T) {
		bs := Downsample(spike, MaxPoints, Max)
		if len(bs) != MaxPoints {
			t.Fatalf("%d buckets; want %d", len(bs), MaxPoints)
		}
		peak, next := 0.0, 0
		for _, b := range bs {
			if b.From != next || b.To <= b.From {
				t.Fatalf("bucket %+v does not follow step %d", b, next)
			}
			next = b.To
			peak = max(peak, b.V)
		}
		if peak != 50 || next != len(spike) {
			t.Errorf("peak %v over %d steps; want 50 over %d", peak, next, len(spike))
		}
	})
}

// rateBuckets, which walks the trace's points, agrees with sampling the
// rate at every step and taking each bucket's maximum.
func TestRateBucketsAgreesWithSampling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var csv strings.Builder
		csv.WriteString("t,rate\n")
		at := 0.0
		for range 2 + rng.IntN(30) {
			fmt.Fprintf(&csv, "%g,%d\n", at, rng.IntN(100))
			at += float64(1+rng.IntN(40)) / float64(1+rng.IntN(4))
		}
		tr, err := trace.Read("r.csv", strings.NewReader(csv.String()))
		if err != nil {
			t.Fatal(err)
		}
		step := time.Duration(1+rng.IntN(5)) * time.Second
		steps := int(tr.Duration() / step)
		if steps == 0 {
			continue
		}
		n := 1 + rng.IntN(steps+3)
		// The rate in force anywhere in step k: its start and every point
		// inside it.
		per := make([]float64, steps)
		for k := range per {
			per[k] = tr.RateAt(time.Duration(k) * step)
		}
		for _, p := range tr.Points() {
			if k := int(p.T / step); k < steps {
				per[k] = max(per[k], p.Rate)
			}
		}
		if d := cmp.Diff(Downsample(per, n, Max), rateBuckets(tr, steps, step, n)); d != "" {
			t.Fatalf("case %d (%d steps of %v, %d buckets):\n%s\n%s", i, steps, step, n, csv.String(), d)
		}
	}
}
