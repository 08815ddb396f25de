package load

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTraceIsAFlashCrowd(t *testing.T) {
	if n := len(traceCSV); n > 10<<10 {
		t.Errorf("embedded trace is %d bytes, want under 10 KiB", n)
	}
	pts := Trace()
	if len(pts) != 150 {
		t.Fatalf("got %d points, want 150 one-minute rows", len(pts))
	}
	for i, pt := range pts {
		if pt.T != float64(60*i) {
			t.Fatalf("point %d at t=%v, want %d", i, pt.T, 60*i)
		}
	}
	peak := slices.MaxFunc(pts, byRate)
	first, last := pts[0], pts[len(pts)-1]
	if diff := cmp.Diff(Point{T: 7380, Rate: 3065.7}, peak); diff != "" {
		t.Errorf("peak (-want +got):\n%s", diff)
	}
	if r := peak.Rate / first.Rate; r < 5 {
		t.Errorf("rise: peak is %.1f× the start, want over 5×", r)
	}
	if r := last.Rate / peak.Rate; r > 0.7 {
		t.Errorf("fall: the end is %.2f of the peak, want under 0.7", r)
	}
	pts[0].Rate = -1
	if Trace()[0].Rate == -1 {
		t.Error("Trace returns shared memory")
	}
}

func TestParseTraceErrors(t *testing.T) {
	tests := []struct {
		name, csv, want string
	}{
		{name: "empty", csv: "", want: "in.csv: read header: EOF"},
		{name: "header", csv: "time,rate\n0,1\n60,1\n", want: `in.csv:1: header is "time,rate", want t,rate`},
		{name: "not from zero", csv: "t,rate\n5,1\n60,1\n", want: "in.csv:2: t 5: the first row must be at t=0"},
		{name: "not increasing", csv: "t,rate\n0,1\n60,1\n60,1\n", want: "in.csv:4: t 60 does not follow 60"},
		{name: "bad t", csv: "t,rate\n0,1\nx,1\n", want: `in.csv:3: t "x" is not a number of seconds`},
		{name: "negative rate", csv: "t,rate\n0,-1\n60,NaN\n", want: "in.csv:2: rate \"-1\" is not a rate >= 0\nin.csv:3: rate \"NaN\""},
		{name: "one row", csv: "t,rate\n0,1\n", want: "in.csv: 1 rows, want at least 2"},
		{name: "all zero", csv: "t,rate\n0,0\n60,0\n", want: "in.csv: every rate is 0"},
		{name: "three fields", csv: "t,rate\n0,1,2\n", want: "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTrace("in.csv", strings.NewReader(tt.csv))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name string
		plan Plan
		want []string
	}{
		{name: "defaults", plan: Plan{}},
		{name: "negative", plan: Plan{Duration: -time.Second, PeakJobsPerSec: -1, ServiceMean: -time.Millisecond}, want: []string{
			"duration: -1s is shorter than 1s",
			"peak_jobs_per_sec: -1 must be a positive number",
			"service_mean: -1ms is shorter than 1ms",
		}},
		{name: "infinite peak", plan: Plan{PeakJobsPerSec: math.Inf(1)}, want: []string{"peak_jobs_per_sec: +Inf"}},
		{name: "too many jobs", plan: Plan{Duration: time.Hour, PeakJobsPerSec: 10_000}, want: []string{"could make 36000000 jobs; at most 10000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			if len(tt.want) == 0 && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestScheduleIsDeterministic(t *testing.T) {
	const seed = 1998
	t.Logf("seed %d", seed)
	a, b := Schedule(Plan{Seed: seed}), Schedule(Plan{Seed: seed})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different schedules (-first +second):\n%s", diff)
	}
	if c := Schedule(Plan{Seed: seed + 1}); cmp.Equal(a, c) {
		t.Errorf("seeds %d and %d gave the same schedule", seed, seed+1)
	}
	// Service times come from their own stream: arrivals stay put.
	d := Schedule(Plan{Seed: seed, ServiceMean: time.Second})
	if len(d) != len(a) || d[100].Offset != a[100].Offset || d[100].Service == a[100].Service {
		t.Errorf("changing ServiceMean moved arrivals or kept service times")
	}
}

// expectedJobs integrates the plan's rate curve over its duration.
func expectedJobs(p Plan) float64 {
	rates := Rates(p)
	total := 0.0
	for i, pt := range rates {
		end := p.WithDefaults().Duration.Seconds()
		if i+1 < len(rates) {
			end = rates[i+1].T
		}
		total += pt.Rate * (end - pt.T)
	}
	return total
}

func TestScheduleFollowsTheRate(t *testing.T) {
	tests := []struct {
		name string
		plan Plan
	}{
		{name: "defaults", plan: Plan{}},
		{name: "one minute", plan: Plan{Duration: time.Minute}},
		{name: "busy", plan: Plan{PeakJobsPerSec: 500}},
		{name: "quiet", plan: Plan{PeakJobsPerSec: 5, Duration: 10 * time.Minute}},
	}
	for _, tt := range tests {
		for seed := range int64(5) {
			p := tt.plan
			p.Seed = seed
			want := expectedJobs(p)
			got := float64(len(Schedule(p)))
			// 5% is over 3 standard deviations of a Poisson count this size.
			if math.Abs(got-want) > 0.05*want {
				t.Errorf("%s, seed %d: got %.0f jobs, want %.0f ± 5%%", tt.name, seed, got, want)
			}
		}
	}
	// With the defaults: 40 jobs/s × (mean/peak = 2069/3066) × 180 s.
	if got := expectedJobs(Plan{}); math.Abs(got-4860) > 5 {
		t.Errorf("expected jobs with the defaults: got %.0f, want about 4860", got)
	}
}

func TestPeakMapsToPeakJobsPerSec(t *testing.T) {
	p := Plan{PeakJobsPerSec: 2000, Seed: 3}
	rates := Rates(p)
	peak := slices.MaxFunc(rates, byRate)
	i := slices.Index(rates, peak)
	if peak.Rate != 2000 || i != 123 {
		t.Fatalf("peak: got %v jobs/s at step %d, want 2000 at step 123", peak.Rate, i)
	}
	// Count the arrivals in the peak step: 2000 jobs/s × 1.2 s.
	from, to := time.Duration(rates[i].T*1e9), time.Duration(rates[i+1].T*1e9)
	n := 0
	for _, j := range Schedule(p) {
		if j.Offset >= from && j.Offset < to {
			n++
		}
	}
	if want := 2000 * 1.2; math.Abs(float64(n)-want) > 0.07*want {
		t.Errorf("arrivals in the peak step [%s, %s): got %d, want %.0f ± 7%%", from, to, n, want)
	}
}

func TestScheduleIsCompressedIntoDuration(t *testing.T) {
	for _, d := range []time.Duration{time.Minute, 3 * time.Minute, 10 * time.Minute} {
		p := Plan{Duration: d, Seed: 11}
		rates := Rates(p)
		if got := span(rates); math.Abs(got-d.Seconds()) > 1e-9 {
			t.Errorf("%s: rate curve spans %vs", d, got)
		}
		if want := d.Seconds() * 123 / 150; math.Abs(slices.MaxFunc(rates, byRate).T-want) > 1e-9 {
			t.Errorf("%s: peak at %vs, want %vs", d, slices.MaxFunc(rates, byRate).T, want)
		}
		jobs := Schedule(p)
		if !slices.IsSortedFunc(jobs, func(a, b Job) int { return int(a.Offset - b.Offset) }) {
			t.Errorf("%s: offsets not in order", d)
		}
		first, last := jobs[0].Offset, jobs[len(jobs)-1].Offset
		if first < 0 || last >= d || last < d-time.Second {
			t.Errorf("%s: offsets run from %s to %s, want within [0, %s) and reaching its last second", d, first, last, d)
		}
	}
}

func TestServiceTimes(t *testing.T) {
	jobs := Schedule(Plan{PeakJobsPerSec: 400, Seed: 5})
	var sum time.Duration
	for _, j := range jobs {
		if j.Service < time.Millisecond || j.Service > 2*time.Second || j.Service%time.Millisecond != 0 {
			t.Fatalf("service time %s: want whole ms within [1ms, 2s]", j.Service)
		}
		sum += j.Service
	}
	// The mean of an exponential capped at 5 means is (1 − e⁻⁵) of it.
	mean, want := float64(sum)/float64(len(jobs)), 0.4e9*(1-math.Exp(-5))
	if math.Abs(mean-want) > 0.02*want {
		t.Errorf("mean service time over %d jobs: got %s, want %s ± 2%%", len(jobs), time.Duration(mean), time.Duration(want))
	}
}

func TestScheduleRejectsInvalidPlan(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "duration") {
			t.Errorf("got panic %v, want one naming the duration", r)
		}
	}()
	Schedule(Plan{Duration: -time.Minute})
}

func TestFixedFleet(t *testing.T) {
	tests := []struct {
		plan Plan
		util float64
		want int
	}{
		{plan: Plan{}, util: 1, want: 16},   // 40/s × 0.4s = 16 busy
		{plan: Plan{}, util: 0.7, want: 23}, // 16 / 0.7 = 22.9
		{plan: Plan{PeakJobsPerSec: 10, ServiceMean: time.Second}, util: 0.5, want: 20},
		{plan: Plan{PeakJobsPerSec: 1, ServiceMean: 250 * time.Millisecond}, util: 1, want: 1},
		{plan: Plan{PeakJobsPerSec: 7, ServiceMean: 300 * time.Millisecond}, util: 1, want: 3}, // 2.1 → 3
	}
	for _, tt := range tests {
		if got := FixedFleet(tt.plan, tt.util); got != tt.want {
			t.Errorf("FixedFleet(%+v): got %d, want %d", tt.plan, got, tt.want)
		}
	}
}
