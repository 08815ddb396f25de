package engine

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// The predictive tests feed a signal at one sample a minute through the
// engine's ordinary tick path (Evaluate, Commit), as the daemon does.

const day = 24 * time.Hour

// sine is a daily sine around 1000 rps with amplitude 500 and Gaussian noise
// of standard deviation 50, from a fixed seed.
func sine(seed uint64) func(at time.Duration) float64 {
	rng := rand.New(rand.NewPCG(seed, 0))
	return func(at time.Duration) float64 {
		return truth(at) + 50*rng.NormFloat64()
	}
}

// truth is the sine without noise: what a forecast should find.
func truth(at time.Duration) float64 {
	return 1000 + 500*math.Sin(2*math.Pi*at.Hours()/24)
}

// ramp is a daily business-hours load: 200 rps at night, rising linearly to
// 2000 from 08:00 to 08:30, falling back from 18:00 to 18:30.
func ramp(at time.Duration) float64 {
	h := math.Mod(at.Hours(), 24)
	switch {
	case h < 8 || h >= 18.5:
		return 200
	case h < 8.5:
		return 200 + 1800*(h-8)/0.5
	case h < 18:
		return 2000
	default:
		return 2000 - 1800*(h-18)/0.5
	}
}

// feed runs the group one tick a minute over [from, to), with rps from load.
func (r *runner) feed(from, to time.Duration, load func(time.Duration) float64, each func(at time.Duration, d *model.Decision)) {
	r.t.Helper()
	for at := from; at < to; at += time.Minute {
		d := r.at(at, map[string]float64{"rps": load(at)})
		if each != nil {
			each(at, d)
		}
	}
}

const forecastOnly = `
name: web
capacity: {min: 0, max: 100000}
interval: 1m
signals: {rps: {stale: 2m}}
policies:
  - predictive: {signal: rps, per_instance: 1, season: daily, lead: 10m}
behavior:
  up: {tolerance: 0, limits: []}
  down: {tolerance: 0, window: 0s, limits: []}
`

// TestPredictiveTracksDailySine checks the forecast against the noise-free
// curve over the last two of 14 days.
//
// With per_instance 1 the recommendation is ceil(forecast), so it reads the
// forecast to within 1. The error bound, 15 rps (3% of the amplitude), is
// the sum of:
//   - interpolating between hourly means: at most A·(ωh)²/8 for a sine of
//     amplitude A = 500 sampled every h = 1 hour, ω = 2π/24h: 4.3;
//   - averaging over an hour shrinks the sine by 1 − sinc(π/24): 1.4;
//   - noise: each bucket mean averages ≥ 12 days × 60 samples of σ = 50, so
//     σ/√720 = 1.9; the largest of the ~50 bucket means used stays within
//     3σ: 5.6;
//   - ceil: 1.
//
// Forecasting without the lead (10 minutes of a sine of slope up to A·ω per
// hour: 22 rps) or from the hourly means without interpolating (up to
// half an hour of slope: 65 rps) would exceed it.
func TestPredictiveTracksDailySine(t *testing.T) {
	r := newRunner(t, forecastOnly)
	load := sine(1)
	r.feed(0, 12*day, load, nil)
	var worst, sum float64
	var n int
	r.feed(12*day, 14*day, load, func(at time.Duration, d *model.Decision) {
		rec := d.Policies[0]
		if rec.Opinion != model.Recommend {
			t.Fatalf("at %v: no forecast: %s", at, rec.Reason)
		}
		e := math.Abs(float64(rec.Desired) - truth(at+10*time.Minute))
		worst = max(worst, e)
		sum += e
		n++
	})
	if worst > 15 {
		t.Errorf("largest forecast error %.1f rps, want ≤ 15", worst)
	}
	if mean := sum / float64(n); mean > 6 {
		t.Errorf("mean forecast error %.1f rps, want ≤ 6", mean)
	}
	t.Logf("forecast error over the last 2 days: max %.2f, mean %.2f rps", worst, sum/float64(n))

	// The memory stays small: hourly means for 14 days.
	b, err := json.Marshal(r.st.Memory())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 12<<10 {
		t.Errorf("memory is %d bytes after 14 days, want ≤ 12 KiB", len(b))
	}
	if got := len(r.st.Memory().Profiles[0].Means); got != 14*24-1 {
		t.Errorf("profile holds %d hourly means, want %d", got, 14*24-1)
	}
}

const forecastAndReactive = `
name: api
capacity: {min: 1, max: 100}
interval: 1m
signals: {rps: {stale: 2m}}
lifecycle: {launch: {boot: 10m, timeout: 30m}}
policies:
  - predictive: {signal: rps, per_instance: 100, season: daily}
  - queue: {signal: rps, per_instance: 100}
behavior:
  up: {tolerance: 0, limits: []}
  down: {tolerance: 0, window: 0s, limits: []}
`

// TestPredictivePreScales checks that a forecast raises capacity a boot time
// (the default lead) before a daily ramp, where the reactive policy follows
// the load.
func TestPredictivePreScales(t *testing.T) {
	r := newRunner(t, forecastAndReactive)
	r.feed(0, 7*day, ramp, nil)
	if lead := r.g.policies[0].(interface{ Lead() time.Duration }).Lead(); lead != 10*time.Minute {
		t.Fatalf("lead %v, want the boot time 10m", lead)
	}
	desired := map[time.Duration]int{}
	var decider []string
	r.feed(7*day, 8*day, ramp, func(at time.Duration, d *model.Decision) {
		desired[at-7*day] = d.Desired
		decider = append(decider, d.Policies[max(d.Decider, 0)].Policy)
	})
	// The load reaches 1000 rps (10 instances) at 08:13:20; the first
	// tick at or after it is 08:14.
	first := 8*time.Hour + 14*time.Minute
	if ramp(7*day+first) < 1000 || ramp(7*day+first-time.Minute) >= 1000 {
		t.Fatalf("test ramp: 1000 rps not first reached at %v", first)
	}
	before := first - 10*time.Minute
	if got := desired[before]; got < 10 {
		t.Errorf("at %v, a lead before the load reaches 1000 rps: desired %d, want ≥ 10", before, got)
	}
	if reactive := int(math.Ceil(ramp(7*day+before) / 100)); reactive >= 10 {
		t.Fatalf("test ramp: the reactive policy alone would already want %d at %v", reactive, before)
	}
	if got := decider[int(before/time.Minute)]; got != "predictive(rps)" {
		t.Errorf("at %v the decision came from %s, want predictive(rps)", before, got)
	}
	// At night, far from the ramp, capacity is what the night load needs.
	if got := desired[4*time.Hour]; got != 2 {
		t.Errorf("at 04:00 desired %d, want 2 (200 rps)", got)
	}
}

// TestPredictiveAbstainsBeforeMinHistory checks that the policy abstains,
// saying why, until min_history (24h by default) of hours hold data, and
// forecasts from the first tick after.
func TestPredictiveAbstainsBeforeMinHistory(t *testing.T) {
	r := newRunner(t, forecastAndReactive)
	var last *model.Decision
	r.feed(0, day, ramp, func(at time.Duration, d *model.Decision) {
		rec := d.Policies[0]
		if rec.Opinion != model.Abstain {
			t.Fatalf("at %v: predictive recommends %d before a day of history", at, rec.Desired)
		}
		last = d
	})
	if got, want := last.Policies[0].Reason.String(), "rps: 23h of history, a forecast needs 24h: no forecast yet"; got != want {
		t.Errorf("reason before min_history:\n got %q\nwant %q", got, want)
	}
	if got := last.Desired; got != 2 {
		t.Errorf("desired %d at 23:59, want the reactive policy's 2", got)
	}
	d := r.at(day, map[string]float64{"rps": ramp(day)})
	if rec := d.Policies[0]; rec.Opinion != model.Recommend {
		t.Fatalf("after 24h of history: %s", rec.Reason)
	}
	want := "forecast of rps at 00:10 UTC (lead 10m): 200 from the last 1 days of 00:00–01:00: ceil(200 / 100) = 2"
	if got := d.Policies[0].Reason.String(); got != want {
		t.Errorf("reason:\n got %q\nwant %q", got, want)
	}
}

// TestPredictiveMemoryRoundTrip checks that the learned profile survives a
// restart exactly: the memory after a JSON round trip equals the original,
// and the restored group decides as the uninterrupted one does.
func TestPredictiveMemoryRoundTrip(t *testing.T) {
	body := strings.Replace(forecastAndReactive, "season: daily", "season: weekly", 1)
	a := newRunner(t, body)
	load := sine(2)
	a.feed(0, 3*day+17*time.Minute, load, nil)

	saved, err := json.Marshal(a.st.Memory())
	if err != nil {
		t.Fatal(err)
	}
	var m Memory
	if err := json.Unmarshal(saved, &m); err != nil {
		t.Fatal(err)
	}
	b := newRunner(t, body)
	b.g.Restore(b.st, m)
	if diff := cmp.Diff(a.st.Memory(), b.st.Memory()); diff != "" {
		t.Fatalf("restored memory (-original +restored):\n%s", diff)
	}
	again, _ := json.Marshal(b.st.Memory())
	if string(again) != string(saved) {
		t.Fatalf("memory JSON changed in a round trip:\n%s\n%s", saved, again)
	}

	fresh := newRunner(t, body) // a restart that lost its memory
	differ := 0
	for at := 3*day + 17*time.Minute; at < 3*day+6*time.Hour; at += time.Minute {
		v := map[string]float64{"rps": load(at)}
		da, db, df := explain(a.at(at, v)), explain(b.at(at, v)), explain(fresh.at(at, v))
		if da != db {
			t.Fatalf("at %v the restored group decides otherwise:\n%s\nvs\n%s", at, da, db)
		}
		if da != df {
			differ++
		}
	}
	if differ == 0 {
		t.Error("a group without the memory decided the same: the test shows nothing")
	}
	if diff := cmp.Diff(a.st.Memory(), b.st.Memory()); diff != "" {
		t.Errorf("memories after 6 more hours (-original +restored):\n%s", diff)
	}
}

// TestPredictiveNeverScalesInBelowReactive checks the combining rule for
// forecasts: a falling forecast lowers capacity no further than the largest
// reactive recommendation, and alone it does not scale in at all.
func TestPredictiveNeverScalesInBelowReactive(t *testing.T) {
	g := compile(t, forecastAndReactive)
	const cur = 15
	rec := func(n int) model.Recommendation {
		return model.Recommendation{Opinion: model.Recommend, Desired: n}
	}
	abstain := model.Recommendation{Opinion: model.Abstain}
	tests := []struct {
		name               string
		forecast, reactive model.Recommendation
		want               int
		because            string
	}{
		{name: "forecast falls below the reactive policy", forecast: rec(8), reactive: rec(10), want: 10,
			because: "all 2 policies agree to scale in; queue(rps) asks for the most, 10"},
		{name: "forecast above the reactive policy bounds the scale-in", forecast: rec(12), reactive: rec(10), want: 12,
			because: "all 2 policies agree to scale in; predictive(rps) asks for the most, 12"},
		{name: "forecast alone does not scale in", forecast: rec(8), reactive: abstain, want: cur,
			because: "predictive(rps) forecasts 8, but a forecast alone never scales in: hold 15"},
		{name: "reactive policy holding blocks it", forecast: rec(8), reactive: rec(cur), want: cur,
			because: "queue(rps) holds at 15"},
		{name: "forecast scales out", forecast: rec(20), reactive: rec(10), want: 20,
			because: "predictive(rps) asks for 20, the largest scale-out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.forecast.Policy, tt.reactive.Policy = "predictive(rps)", "queue(rps)"
			d := &model.Decision{Policies: []model.Recommendation{tt.forecast, tt.reactive}}
			if got := g.combine(cur, d); got != tt.want || d.Combined.String() != tt.because {
				t.Errorf("combine: %d (%q), want %d (%q)", got, d.Combined, tt.want, tt.because)
			}
			if tt.want == cur && tt.reactive.Opinion == model.Abstain && d.Reason() != tt.because {
				t.Errorf("the decision's reason %q names a policy; want the rule's %q", d.Reason(), tt.because)
			}
		})
	}

	// Through the tick path: a day of the ramp after a week of learning.
	// Whenever the group scales in, it stays at or above what the reactive
	// policy asks; and the forecast, above the reactive policy, does fall
	// at times (the evening ramp as seen a lead ahead), so the rule is
	// exercised.
	r := newRunner(t, forecastAndReactive)
	r.feed(0, 7*day, ramp, nil)
	exercised := 0
	prevForecast := -1
	r.feed(7*day, 8*day, ramp, func(at time.Duration, d *model.Decision) {
		f, q := d.Policies[0], d.Policies[1]
		if d.Direction == model.Down && d.Desired < q.Desired {
			t.Errorf("at %v: scaled in to %d, below the reactive %d", at, d.Desired, q.Desired)
		}
		if f.Opinion == model.Recommend && f.Desired > q.Desired && prevForecast > f.Desired && d.Direction == model.Down {
			exercised++
		}
		prevForecast = f.Desired
	})
	if exercised == 0 {
		t.Error("no scale-in while the forecast, above the reactive policy, fell: the rule was not exercised")
	}
}
