package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// tick is one evaluation in a scripted scenario.
type tick struct {
	at      time.Duration
	values  map[string]float64
	want    int
	bound   model.Stage // the stage expected to bind the result; "" for none
	because string      // a fragment the one-line reason must contain
}

func play(t *testing.T, body string, ticks []tick) {
	t.Helper()
	r := newRunner(t, body)
	for _, tk := range ticks {
		d := r.at(tk.at, tk.values)
		got := d.Desired
		s, _ := d.Bound()
		why := d.Reason() + " | " + d.Combined.String()
		if got != tk.want || s.Stage != tk.bound || !strings.Contains(why, tk.because) {
			t.Fatalf("at %v: desired %d bound %q reason %q; want %d bound %q reason containing %q\n%s",
				tk.at, got, s.Stage, why, tk.want, tk.bound, tk.because, explain(d))
		}
	}
}

// fixedRec is a group whose only policy recommends exactly the value of the
// "want" signal: it lets a test script recommendations directly.
const fixedRec = `
name: g
capacity: {min: 1, max: 100, initial: %d}
signals: {want: {stale: 1h}}
policies:
  - queue: {signal: want, per_instance: 1}
behavior:
  up: {tolerance: 0, %s}
  down: {tolerance: 0, %s}
`

func body(initial int, up, down string) string { return fmt.Sprintf(fixedRec, initial, up, down) }

func want(n float64) map[string]float64 { return map[string]float64{"want": n} }

// The Kubernetes HPA documentation's scale-down stabilization: with a 300 s
// window the highest recommendation of the last five minutes is used, so a
// brief dip does not remove pods.
func TestStabilizationDownHPA(t *testing.T) {
	play(t, body(10, "window: 0s", "window: 300s, limits: []"), []tick{
		{at: 0, values: want(10), want: 10, because: "holds at 10"},
		{at: time.Minute, values: want(4), want: 10, bound: model.StageStabilization, because: "scale-down window 5m holds 10"},
		{at: 2 * time.Minute, values: want(6), want: 10, bound: model.StageStabilization},
		// The 10 recorded at 0s leaves the window after 300 s: the highest left is 6.
		{at: 5*time.Minute + time.Second, values: want(5), want: 6, bound: model.StageStabilization, because: "holds 6"},
		{at: 7*time.Minute + time.Second, values: want(5), want: 5, because: "asks for 5"},
	})
}

// Kubernetes records an HPA's current replica count as its first
// recommendation: a group seen for the first time, or whose memory was
// lost, does not scale in before a whole down window recommends it.
func TestStabilizationStartsWithCurrentCapacity(t *testing.T) {
	play(t, body(10, "window: 0s", "window: 300s, limits: []"), []tick{
		{at: 0, values: want(2), want: 10, bound: model.StageStabilization, because: "scale-down window 5m holds 10"},
		{at: 4 * time.Minute, values: want(2), want: 10, bound: model.StageStabilization},
		{at: 5*time.Minute + time.Second, values: want(2), want: 2},
	})
	// A restored memory goes on: it is not seeded again.
	g := compile(t, body(10, "window: 0s", "window: 300s, limits: []"))
	st := NewState(g)
	g.Restore(st, Memory{Desired: 10})
	var d model.Decision
	obs := Observation{Now: t0, Ready: 10, Samples: []Sample{{Signal: 0, T: t0, V: 2}}}
	g.Evaluate(st, obs, &d)
	if d.Desired != 2 {
		t.Fatalf("after a restore with no recommendations in the window: desired %d, want 2", d.Desired)
	}
}

// Scale-up stabilization takes the lowest recommendation of the window: a
// spike must last the whole window to be acted on in full.
func TestStabilizationUp(t *testing.T) {
	play(t, body(2, "window: 60s, limits: []", "window: 0s"), []tick{
		{at: 0, values: want(2), want: 2},
		{at: 15 * time.Second, values: want(8), want: 2, bound: model.StageStabilization, because: "scale-up window 1m holds 2"},
		{at: 30 * time.Second, values: want(8), want: 2, bound: model.StageStabilization},
		{at: 61 * time.Second, values: want(8), want: 8},
	})
}

// The Kubernetes HPA documentation's scaling-policy example: scale-down
// allows 4 pods or 10% per minute, whichever removes more (selectPolicy Max).
// At 80 replicas 10% removes 8; at 72, 7.2 removes 8 (the rest is truncated);
// below 40 replicas the 4-pod policy allows more.
func TestRateLimitDownHPAPolicies(t *testing.T) {
	down := "window: 0s, limits: [{count: 4, per: 60s}, {percent: 10, per: 60s}]"
	play(t, body(80, "window: 0s", down), []tick{
		{at: 0, values: want(1), want: 72, bound: model.StageRateLimit, because: "scale-in limit 10% per 1m from 80 allows 72"},
		// Within the same minute the period started at 80: nothing more.
		{at: 30 * time.Second, values: want(1), want: 72, bound: model.StageRateLimit, because: "from 80 allows 72"},
		{at: 60 * time.Second, values: want(1), want: 64, bound: model.StageRateLimit, because: "from 72 allows 64"},
		{at: 120 * time.Second, values: want(1), want: 57, bound: model.StageRateLimit},
		{at: 180 * time.Second, values: want(1), want: 51, bound: model.StageRateLimit},
		{at: 240 * time.Second, values: want(1), want: 45, bound: model.StageRateLimit},
		{at: 300 * time.Second, values: want(1), want: 40, bound: model.StageRateLimit},
		{at: 360 * time.Second, values: want(1), want: 36, bound: model.StageRateLimit},
		// 10% of 36 is 3.6 → 32.4 → 32 … vs 36 − 4 = 32: equal; at 32: 28.8 → 28 vs 28.
		{at: 420 * time.Second, values: want(1), want: 32, bound: model.StageRateLimit},
		{at: 480 * time.Second, values: want(1), want: 28, bound: model.StageRateLimit},
		// At 28 the count policy removes 4 (→ 24), the percent policy 2.8 → 3 (→ 25).
		{at: 540 * time.Second, values: want(1), want: 24, bound: model.StageRateLimit, because: "scale-in limit 4 per 1m from 28 allows 24"},
	})
}

// HPA defaults for scale-up: 4 pods or 100% per 15 s, the larger.
func TestRateLimitUpDefaults(t *testing.T) {
	play(t, `
name: g
capacity: {min: 1, max: 1000}
signals: {want: {}}
policies: [{queue: {signal: want, per_instance: 1}}]
behavior: {up: {tolerance: 0}}
`, []tick{
		{at: 0, values: want(1), want: 1},
		{at: 15 * time.Second, values: want(100), want: 5, bound: model.StageRateLimit, because: "scale-out limit 4 per 15s from 1 allows 5"},
		{at: 30 * time.Second, values: want(100), want: 10, bound: model.StageRateLimit, because: "scale-out limit 100% per 15s from 5 allows 10"},
		{at: 45 * time.Second, values: want(100), want: 20, bound: model.StageRateLimit},
		{at: 60 * time.Second, values: want(100), want: 40, bound: model.StageRateLimit},
		{at: 75 * time.Second, values: want(100), want: 80, bound: model.StageRateLimit},
		{at: 90 * time.Second, values: want(100), want: 100},
	})
}

func TestRateLimitSelect(t *testing.T) {
	limits := "limits: [{count: 4, per: 60s}, {percent: 50, per: 60s}]"
	t.Run("min takes the smallest change", func(t *testing.T) {
		play(t, body(20, "window: 0s, select: min, "+limits, "window: 0s"), []tick{
			{at: 0, values: want(50), want: 24, bound: model.StageRateLimit, because: "4 per 1m from 20 allows 24"},
		})
	})
	t.Run("max takes the largest change", func(t *testing.T) {
		play(t, body(20, "window: 0s, select: max, "+limits, "window: 0s"), []tick{
			{at: 0, values: want(50), want: 30, bound: model.StageRateLimit, because: "50% per 1m from 20 allows 30"},
		})
	})
	t.Run("disabled never scales that way", func(t *testing.T) {
		play(t, body(20, "window: 0s", "window: 0s, select: disabled"), []tick{
			{at: 0, values: want(3), want: 20, bound: model.StageRateLimit, because: "scale-in is disabled"},
			{at: time.Minute, values: want(30), want: 30},
		})
	})
	t.Run("percent lets a group at zero start", func(t *testing.T) {
		r := newRunner(t, `
name: g
capacity: {min: 0, max: 10}
signals: {want: {}}
policies: [{queue: {signal: want, per_instance: 1}}]
behavior: {up: {limits: [{percent: 100, per: 1m}]}}
`)
		if d := r.at(0, want(5)); d.Desired != 1 {
			t.Fatalf("desired %d, want 1\n%s", d.Desired, explain(d))
		}
	})
}

func TestDatapoints(t *testing.T) {
	play(t, body(2, "window: 0s, limits: [], datapoints: {need: 3, of: 5}", "window: 0s, limits: [], datapoints: {need: 2, of: 2}"), []tick{
		{at: 0, values: want(6), want: 2, bound: model.StageDatapoints, because: "scale-out recommended in 1 of the last 5 evaluations, need 3"},
		{at: 15 * time.Second, values: want(2), want: 2},
		{at: 30 * time.Second, values: want(6), want: 2, bound: model.StageDatapoints, because: "2 of the last 5"},
		{at: 45 * time.Second, values: want(6), want: 6, because: "asks for 6"},
		{at: 60 * time.Second, values: want(1), want: 6, bound: model.StageDatapoints, because: "scale-in recommended in 1 of the last 2 evaluations, need 2"},
		{at: 75 * time.Second, values: want(1), want: 1},
	})
}

func TestCooldown(t *testing.T) {
	play(t, body(2, "window: 0s, limits: [], cooldown: 60s", "window: 0s, limits: [], cooldown: 120s"), []tick{
		{at: 0, values: want(4), want: 4},
		{at: 30 * time.Second, values: want(8), want: 4, bound: model.StageCooldown, because: "scale-out cooldown 1m: last scale-out 30s ago"},
		{at: 60 * time.Second, values: want(8), want: 8},
		{at: 120 * time.Second, values: want(1), want: 8, bound: model.StageCooldown, because: "scale-in cooldown 2m: last scaling 1m ago"},
		{at: 180 * time.Second, values: want(1), want: 1},
		// A scale-out right after a scale-in is not held by the scale-in's cooldown.
		{at: 190 * time.Second, values: want(3), want: 3},
	})
}

func TestClampAndSchedule(t *testing.T) {
	play(t, `
name: g
capacity: {min: 2, max: 10}
signals: {want: {stale: 1h}}
policies:
  - queue: {signal: want, per_instance: 1}
  - schedule:
      timezone: UTC
      windows: [{cron: "0 9 * * 1-5", duration: 8h, min: 6, max: 20}]
behavior: {up: {tolerance: 0, limits: []}, down: {tolerance: 0, window: 0s, limits: []}}
`, []tick{
		{at: 0, values: want(50), want: 10, bound: model.StageClamp, because: "capacity.max 10"},
		{at: time.Hour, values: want(0), want: 2, bound: model.StageClamp, because: "capacity.min 2"},
		// Monday 09:00: the window's bounds replace the group's.
		{at: 9 * time.Hour, values: want(0), want: 6, bound: model.StageClamp, because: "schedule min 6"},
		{at: 10 * time.Hour, values: want(50), want: 20, bound: model.StageClamp, because: "schedule max 20"},
		{at: 17 * time.Hour, values: want(50), want: 10, bound: model.StageClamp, because: "capacity.max 10"},
	})
}

func TestGuards(t *testing.T) {
	const g = `
name: g
capacity: {min: 1, max: 50, initial: 4}
signals: {want: {}, throttle: {}, conns: {}}
policies: [{queue: {signal: want, per_instance: 1}}]
guards:
  - {signal: throttle, above: 5}
  - {signal: conns, above: 80, cap: 6}
behavior: {up: {tolerance: 0, limits: []}, down: {tolerance: 0, window: 0s, limits: []}}
`
	vals := func(w, throttle, conns float64) map[string]float64 {
		return map[string]float64{"want": w, "throttle": throttle, "conns": conns}
	}
	play(t, g, []tick{
		{at: 0, values: vals(10, 9, 10), want: 4, bound: model.StageGuard, because: "guard throttle 9 > 5 freezes scale-out at 4"},
		{at: 15 * time.Second, values: vals(10, 0, 90), want: 6, bound: model.StageGuard, because: "guard conns 90 > 80 caps scale-out at 6"},
		// Guards never block scale-in.
		{at: 30 * time.Second, values: vals(2, 9, 90), want: 2},
		{at: 45 * time.Second, values: vals(10, 0, 10), want: 10},
	})
	t.Run("a guard whose signal is missing does not act", func(t *testing.T) {
		r := newRunner(t, g)
		d := r.at(0, map[string]float64{"want": 10})
		if d.Desired != 10 {
			t.Fatalf("desired %d, want 10\n%s", d.Desired, explain(d))
		}
	})
}
