package oracle

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSolveHandMade(t *testing.T) {
	for _, c := range []struct {
		name           string
		step, boot     time.Duration
		demand         []int
		running, ready []int
	}{
		{
			// B = 3. Level 1 is needed at 4–5 and 8–9: launched at 1 (booting
			// 1–3), then a dip of 2 steps ≤ B at 6–7 is kept ready.
			// Cost 9 steps.
			name: "dip shorter than boot is kept", step: time.Second, boot: 3 * time.Second,
			demand:  []int{0, 0, 0, 0, 1, 1, 0, 0, 1, 1},
			running: []int{0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
			ready:   []int{0, 0, 0, 0, 1, 1, 1, 1, 1, 1},
		},
		{
			// B = 3 and a dip of exactly 3 steps: keeping costs 3, relaunching
			// costs 3 too; the oracle keeps it (no launch).
			name: "dip equal to boot is kept", step: time.Second, boot: 3 * time.Second,
			demand:  []int{1, 0, 0, 0, 1},
			running: []int{1, 1, 1, 1, 1},
			ready:   []int{1, 1, 1, 1, 1},
		},
		{
			// B = 2. Needed at 0–1 (warm at the start) and at 7: the dip of 5
			// steps > B is released, and the instance relaunched at 5.
			// Cost 2 + 2 + 1 = 5 steps.
			name: "dip longer than boot is released", step: time.Second, boot: 2 * time.Second,
			demand:  []int{1, 1, 0, 0, 0, 0, 0, 1},
			running: []int{1, 1, 0, 0, 0, 1, 1, 1},
			ready:   []int{1, 1, 0, 0, 0, 0, 0, 1},
		},
		{
			// Demand at t=0 is met by instances warm at the start: nothing is
			// billed before the run, and the tail stops at once.
			name: "demand from the start", step: time.Second, boot: 5 * time.Second,
			demand:  []int{2, 2, 1},
			running: []int{2, 2, 1},
			ready:   []int{2, 2, 1},
		},
		{
			// B = 5 but level 1 is first needed at 2: it was launched at −3,
			// is billed from 0 and ready from 2.
			name: "first need within boot of the start", step: time.Second, boot: 5 * time.Second,
			demand:  []int{0, 0, 1},
			running: []int{1, 1, 1},
			ready:   []int{0, 0, 1},
		},
		{
			// B = 1. Level 1 runs throughout. Level 2 is needed at 1 and 4:
			// launched at 0, released over the 2-step dip, relaunched at 3.
			// running(t) = max d over [t, t+1].
			name: "two levels", step: time.Second, boot: time.Second,
			demand:  []int{1, 2, 1, 1, 2, 1},
			running: []int{2, 2, 1, 2, 2, 1},
			ready:   []int{1, 2, 1, 1, 2, 1},
		},
		{
			// A 15 s boot on 10 s steps rounds up to 2 steps.
			name: "boot rounded up to steps", step: 10 * time.Second, boot: 15 * time.Second,
			demand:  []int{0, 0, 0, 3, 0, 0, 0},
			running: []int{0, 3, 3, 3, 0, 0, 0},
			ready:   []int{0, 0, 0, 3, 0, 0, 0},
		},
		{
			name: "no boot delay follows demand", step: time.Second, boot: 0,
			demand:  []int{0, 3, 1, 0, 2},
			running: []int{0, 3, 1, 0, 2},
			ready:   []int{0, 3, 1, 0, 2},
		},
		{name: "no steps", step: time.Second, boot: time.Second, demand: nil, running: []int{}, ready: []int{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Solve(c.demand, c.step, c.boot)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.running, p.Running); diff != "" {
				t.Errorf("Running (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.ready, p.Ready); diff != "" {
				t.Errorf("Ready (-want +got):\n%s", diff)
			}
			want := float64(sum(c.running)) * c.step.Hours()
			if math.Abs(p.InstanceHours-want) > 1e-12 {
				t.Errorf("InstanceHours = %v, want %v", p.InstanceHours, want)
			}
		})
	}
}

func TestSolveErrors(t *testing.T) {
	if _, err := Solve([]int{1}, 0, 0); err == nil {
		t.Error("zero step: no error")
	}
	if _, err := Solve([]int{1}, time.Second, -time.Second); err == nil {
		t.Error("negative boot: no error")
	}
	if _, err := Solve([]int{1, -1}, time.Second, 0); err == nil {
		t.Error("negative demand: no error")
	}
}

func sum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

// naive applies the per-level rule literally: for each level, walk its
// intervals, launch b before the first (billing only from 0), keep gaps of
// at most b, relaunch b before the next interval otherwise.
func naive(d []int, b int) (running, ready []int) {
	n := len(d)
	running, ready = make([]int, n), make([]int, n)
	peak := 0
	for _, x := range d {
		peak = max(peak, x)
	}
	for k := 1; k <= peak; k++ {
		last := -1 // last step of the previous interval of level k
		for t := 0; t < n; t++ {
			if d[t] < k || (t > 0 && d[t-1] >= k) {
				continue
			}
			// t starts an interval of level k.
			if last >= 0 && t-last-1 <= b {
				for u := last + 1; u < t; u++ {
					running[u]++
					ready[u]++
				}
			} else {
				for u := max(0, t-b); u < t; u++ {
					running[u]++
				}
			}
			for last = t; last+1 < n && d[last+1] >= k; last++ {
			}
			for u := t; u <= last; u++ {
				running[u]++
				ready[u]++
			}
		}
	}
	return running, ready
}

// followCost is the cost in steps of launching each level's instance b
// before every interval it is needed and stopping it right after.
func followCost(d []int, b int) int {
	cost := 0
	for t := range d {
		cost += d[t]
		prev := 0
		if t > 0 {
			prev = d[t-1]
		}
		// Levels prev+1..d[t] start an interval at t.
		cost += max(0, d[t]-prev) * min(t, b)
	}
	return cost
}

func randomDemand(rng *rand.Rand, n, peak int) []int {
	d := make([]int, n)
	x := rng.IntN(peak + 1)
	for i := range d {
		switch rng.IntN(4) {
		case 0:
			x = rng.IntN(peak + 1) // a jump
		case 1:
			x = max(0, min(peak, x+rng.IntN(3)-1))
		}
		d[i] = x
	}
	return d
}

func TestSolveProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for k := range 500 {
		n := 1 + rng.IntN(200)
		d := randomDemand(rng, n, 1+rng.IntN(8))
		b := rng.IntN(12)
		p, err := Solve(d, time.Second, time.Duration(b)*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantRunning, wantReady := naive(d, b)
		if diff := cmp.Diff(wantRunning, p.Running); diff != "" {
			t.Fatalf("case %d (b=%d, d=%v): Running differs from the per-level rule (-want +got):\n%s", k, b, d, diff)
		}
		if diff := cmp.Diff(wantReady, p.Ready); diff != "" {
			t.Fatalf("case %d (b=%d, d=%v): Ready differs from the per-level rule (-want +got):\n%s", k, b, d, diff)
		}
		peak := 0
		for t2 := range d {
			peak = max(peak, d[t2])
			if p.Ready[t2] < d[t2] || p.Ready[t2] > p.Running[t2] {
				t.Fatalf("case %d: step %d has demand %d, ready %d, running %d", k, t2, d[t2], p.Ready[t2], p.Running[t2])
			}
			// Whatever is ready at t must have been running since t−b.
			for u := max(0, t2-b); u < t2; u++ {
				if p.Running[u] < p.Ready[t2] {
					t.Fatalf("case %d: %d ready at %d but only %d running at %d, within the boot delay %d", k, p.Ready[t2], t2, p.Running[u], u, b)
				}
			}
		}
		cost := sum(p.Running)
		if cost > n*peak {
			t.Fatalf("case %d: cost %d above keeping the peak %d for %d steps", k, cost, peak, n)
		}
		if f := followCost(d, b); cost > f {
			t.Fatalf("case %d: cost %d above following demand with boot lead (%d)", k, cost, f)
		}
	}
}

// TestSolveLongBoot checks the window handling when the boot delay is longer
// than the run: every step runs the peak still ahead of it.
func TestSolveLongBoot(t *testing.T) {
	d := []int{1, 4, 2, 3, 0}
	for _, boot := range []time.Duration{5 * time.Second, time.Hour, math.MaxInt64} {
		p, err := Solve(d, time.Second, boot)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{4, 4, 3, 3, 0}, p.Running); diff != "" {
			t.Errorf("boot %v: Running (-want +got):\n%s", boot, diff)
		}
		if diff := cmp.Diff([]int{1, 4, 3, 3, 0}, p.Ready); diff != "" {
			t.Errorf("boot %v: Ready (-want +got):\n%s", boot, diff)
		}
	}
}

// BenchmarkOracle30Days solves 30 days at 1-second steps (2,592,000 steps)
// of a demand peaking at 50 instances, with a 3-minute boot delay.
func BenchmarkOracle30Days(b *testing.B) {
	const n = 30 * 24 * 3600
	rng := rand.New(rand.NewPCG(1, 1))
	d := make([]int, n)
	for i := range d {
		// A daily cycle between 5 and 45, with noise up to 50.
		phase := 2 * math.Pi * float64(i%86400) / 86400
		d[i] = min(50, max(0, int(25-20*math.Cos(phase))+rng.IntN(6)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Solve(d, time.Second, 3*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
