package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

func TestNewNamesAndSignals(t *testing.T) {
	signals := []string{"cpu", "jobs", "queue", "input", "throughput", "lag", "growth"}
	stream := streamingSpec()
	streamGrowth := streamingSpec()
	streamGrowth.Growth = "growth"
	tests := []struct {
		name        string
		spec        config.Policy
		wantName    string
		wantSignals []int
	}{
		{
			name:     "target",
			spec:     config.Policy{Target: &config.Target{Signal: "cpu", Value: 0.6, Mode: "average"}},
			wantName: "target(cpu)", wantSignals: []int{0},
		},
		{
			name:     "queue",
			spec:     config.Policy{Queue: &config.Queue{Signal: "jobs", PerInstance: 10}},
			wantName: "queue(jobs)", wantSignals: []int{1},
		},
		{
			name:     "step",
			spec:     config.Policy{Step: &config.Step{Signal: "cpu", Threshold: 50, Adjustment: "change", Steps: []config.StepAdjustment{{Adjust: 1}}}},
			wantName: "step(cpu)", wantSignals: []int{0},
		},
		{
			name:     "simple",
			spec:     config.Policy{Simple: &config.Simple{Signal: "queue", Above: f64(1), Change: 1, Datapoints: config.MofN{Need: 1, Of: 1}}},
			wantName: "simple(queue)", wantSignals: []int{2},
		},
		{
			name:     "streaming is named by its backlog",
			spec:     config.Policy{Streaming: &stream},
			wantName: "streaming(lag)", wantSignals: []int{3, 4, 5, 0},
		},
		{
			name:     "streaming with a growth signal",
			spec:     config.Policy{Streaming: &streamGrowth},
			wantName: "streaming(lag)", wantSignals: []int{3, 4, 5, 0, 6},
		},
		{
			name:     "schedule",
			spec:     config.Policy{Schedule: &config.Schedule{Timezone: "UTC", Windows: []config.ScheduleWindow{{Cron: "0 8 * * *", Duration: dur("1h"), Min: intp(1)}}}},
			wantName: "schedule",
		},
		{
			name:     "fixed",
			spec:     config.Policy{Fixed: &config.Fixed{Desired: 2}},
			wantName: "fixed",
		},
		{
			name:     "a configured name wins",
			spec:     config.Policy{Name: "web-cpu", Target: &config.Target{Signal: "cpu", Value: 0.6, Mode: "hpa"}},
			wantName: "web-cpu", wantSignals: []int{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spec.Streaming != nil {
				tt.spec.Streaming.CPU = "cpu"
			}
			p := mustNew(t, tt.spec, signals...)
			if got := p.Name(); got != tt.wantName {
				t.Errorf("Name() = %q, want %q", got, tt.wantName)
			}
			if diff := cmp.Diff(tt.wantSignals, p.Signals()); diff != "" {
				t.Errorf("Signals() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	target := func(value float64, mode string) config.Policy {
		return config.Policy{Target: &config.Target{Signal: "cpu", Value: value, Mode: mode}}
	}
	step := func(adjustment string, minMagnitude int, steps ...config.StepAdjustment) config.Policy {
		return config.Policy{Step: &config.Step{Signal: "cpu", Threshold: 50, Adjustment: adjustment, MinMagnitude: minMagnitude, Steps: steps}}
	}
	simple := func(above *float64, need, of int) config.Policy {
		return config.Policy{Simple: &config.Simple{Signal: "cpu", Above: above, Change: 1, Datapoints: config.MofN{Need: need, Of: of}}}
	}
	streaming := func(edit func(*config.Streaming)) config.Policy {
		s := streamingSpec()
		s.InputRate, s.Throughput, s.Backlog, s.CPU = "cpu", "cpu", "cpu", "cpu"
		edit(&s)
		return config.Policy{Streaming: &s}
	}
	schedule := func(tz string, windows ...config.ScheduleWindow) config.Policy {
		return config.Policy{Schedule: &config.Schedule{Timezone: tz, Windows: windows}}
	}
	window := func(cron string) config.ScheduleWindow {
		return config.ScheduleWindow{Cron: cron, Duration: dur("1h"), Desired: intp(1)}
	}
	tests := []struct {
		name string
		spec config.Policy
		want string
	}{
		{name: "no kind", spec: config.Policy{Name: "x"}, want: "no policy kind set"},
		{
			name: "two kinds",
			spec: config.Policy{Target: &config.Target{Signal: "cpu", Value: 1}, Fixed: &config.Fixed{}},
			want: "several policy kinds set (target, fixed)",
		},
		{name: "unknown signal", spec: config.Policy{Target: &config.Target{Signal: "cpux", Value: 1}}, want: `target: unknown signal "cpux"`},
		{name: "no signal", spec: config.Policy{Queue: &config.Queue{PerInstance: 1}}, want: "queue: no signal set"},
		{name: "target: zero value", spec: target(0, "average"), want: "value 0: must be a number > 0"},
		{name: "target: NaN value", spec: target(math.NaN(), "average"), want: "value NaN"},
		{name: "target: unknown mode", spec: target(1, "keda"), want: `unknown mode "keda": want average or hpa`},
		{name: "step: unknown adjustment", spec: step("relative", 0, config.StepAdjustment{}), want: `unknown adjustment "relative"`},
		{name: "step: no steps", spec: step("change", 0), want: "no steps"},
		{
			name: "step: empty interval",
			spec: step("change", 0, config.StepAdjustment{From: f64(10), To: f64(10)}),
			want: "steps[0]: from 10 must be below to 10",
		},
		{
			name: "step: overlap",
			spec: step("change", 0, config.StepAdjustment{From: f64(0), To: f64(10)}, config.StepAdjustment{From: f64(5)}),
			want: "steps [0, 10) and [5, +inf) overlap",
		},
		{
			name: "step: two unbounded",
			spec: step("change", 0, config.StepAdjustment{To: f64(-10)}, config.StepAdjustment{}),
			want: "overlap",
		},
		{name: "step: negative exact", spec: step("exact", 0, config.StepAdjustment{Adjust: -1}), want: "exact capacity -1 must be ≥ 0"},
		{name: "step: negative min magnitude", spec: step("percent", -1, config.StepAdjustment{}), want: "min_magnitude -1"},
		{name: "simple: no condition", spec: simple(nil, 1, 1), want: "no condition"},
		{name: "simple: need 0", spec: simple(f64(1), 0, 1), want: "need 0: must be ≥ 1"},
		{name: "simple: of below need", spec: simple(f64(1), 3, 2), want: "of 2: must be ≥ need 3"},
		{name: "simple: of beyond memory", spec: simple(f64(1), 1, 65), want: "at most 64"},
		{name: "queue: zero per instance", spec: config.Policy{Queue: &config.Queue{Signal: "cpu"}}, want: "per_instance 0"},
		{
			name: "queue: infinite activation",
			spec: config.Policy{Queue: &config.Queue{Signal: "cpu", PerInstance: 1, Activation: math.Inf(1)}},
			want: "activation inf",
		},
		{name: "streaming: unknown signal", spec: streaming(func(s *config.Streaming) { s.Throughput = "tput" }), want: `throughput: unknown signal "tput"`},
		{name: "streaming: unknown growth", spec: streaming(func(s *config.Streaming) { s.Growth = "g" }), want: `growth: unknown signal "g"`},
		{name: "streaming: zero catch_up", spec: streaming(func(s *config.Streaming) { s.CatchUp = 0 }), want: "catch_up: must be > 0"},
		{name: "streaming: zero cpu_target", spec: streaming(func(s *config.Streaming) { s.CPUTarget = 0 }), want: "cpu_target 0"},
		{name: "streaming: negative max_parallelism", spec: streaming(func(s *config.Streaming) { s.MaxParallelism = -1 }), want: "max_parallelism -1"},
		{name: "schedule: unknown zone", spec: schedule("Mars/Olympus", window("0 8 * * *")), want: `timezone "Mars/Olympus"`},
		{name: "schedule: no windows", spec: schedule("UTC"), want: "no windows"},
		{name: "schedule: bad cron", spec: schedule("UTC", window("0 25 * * *")), want: `windows[0]: cron "0 25 * * *"`},
		{name: "schedule: six fields", spec: schedule("UTC", window("0 0 8 * * *")), want: "cron"},
		{name: "schedule: empty cron", spec: schedule("UTC", window("")), want: "cron"},
		{name: "schedule: zone in cron", spec: schedule("UTC", window("CRON_TZ=Asia/Tokyo 0 8 * * *")), want: "sets a time zone"},
		{name: "schedule: zone without fields", spec: schedule("UTC", window("TZ=UTC")), want: "sets a time zone"},
		{name: "schedule: @every", spec: schedule("UTC", window("@every 1h")), want: "want a five-field expression"},
		{name: "schedule: never fires", spec: schedule("UTC", window("0 0 30 2 *")), want: "never fires"},
		{
			name: "schedule: zero duration",
			spec: schedule("UTC", config.ScheduleWindow{Cron: "0 8 * * *", Min: intp(1)}),
			want: "duration 0s: must be > 0",
		},
		{
			name: "schedule: min above max",
			spec: schedule("UTC", config.ScheduleWindow{Cron: "0 8 * * *", Duration: dur("1h"), Min: intp(5), Max: intp(2)}),
			want: "min 5 is above max 2",
		},
		{
			name: "schedule: sets nothing",
			spec: schedule("UTC", config.ScheduleWindow{Cron: "0 8 * * *", Duration: dur("1h")}),
			want: "sets none of min, max and desired",
		},
		{name: "fixed: negative", spec: config.Policy{Fixed: &config.Fixed{Desired: -1}}, want: "desired -1: must be ≥ 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.spec, indexOf("cpu"))
			if err == nil {
				t.Fatalf("New = %s, want error containing %q", p.Name(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q does not contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(config.Policy{Fixed: &config.Fixed{}}, nil); err == nil {
		t.Errorf("New with a nil index: want an error")
	}
}

// TestExtremeInputs evaluates every kind with values at the edges of float64
// and checks the invariants the engine relies on: no panic, and either an
// error or a capacity in [0, maxCount].
func TestExtremeInputs(t *testing.T) {
	stream := streamingSpec()
	stream.CPU = "cpu"
	specs := []config.Policy{
		{Target: &config.Target{Signal: "cpu", Value: 1e-300, Mode: "average"}},
		{Target: &config.Target{Signal: "cpu", Value: 0.5, Mode: "hpa"}},
		{Step: &config.Step{Signal: "cpu", Threshold: 0, Adjustment: "percent", MinMagnitude: 1, Steps: []config.StepAdjustment{{Adjust: 1 << 40}}}},
		{Step: &config.Step{Signal: "cpu", Threshold: 0, Adjustment: "change", Steps: []config.StepAdjustment{{Adjust: math.MinInt}}}},
		{Simple: &config.Simple{Signal: "cpu", Below: f64(0), Change: math.MaxInt, Datapoints: config.MofN{Need: 1, Of: 1}}},
		{Queue: &config.Queue{Signal: "cpu", PerInstance: 1e-300}},
		{Streaming: &stream},
	}
	extremes := []float64{0, -0.0, 1e-320, -1, -math.MaxFloat64, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}
	currents := []int{0, 1, maxCount, math.MaxInt}
	for _, spec := range specs {
		p := mustNew(t, spec, "input", "throughput", "lag", "cpu")
		t.Run(p.Name(), func(t *testing.T) {
			for _, v := range extremes {
				for _, cur := range currents {
					in := Input{
						Now:         time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
						Current:     cur,
						Ready:       cur,
						Values:      []Value{{V: 1000, OK: true}, {V: v, OK: true}, {V: v, OK: true}, {V: v, OK: true}},
						PerInstance: [][]InstanceValue{nil, nil, nil, join(readyAt(v, 1), missingAt(1), notReady(1))},
						Tolerance:   tol,
						Memory:      &model.Datapoints{},
					}
					got, err := p.Evaluate(in)
					if err != nil {
						continue
					}
					if got.Desired < 0 || got.Desired > max(maxCount, cur) {
						t.Errorf("value %v, current %d: desired %d out of range (%s)", v, cur, got.Desired, got.Reason)
					}
					checkReason(t, got.Reason)
				}
			}
		})
	}
}
