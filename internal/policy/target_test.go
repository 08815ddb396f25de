package policy

import (
	"math"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestTargetAverage(t *testing.T) {
	tests := []struct {
		name    string
		target  float64
		value   float64
		current int
		ready   int
		want    outcome
		reason  []string
	}{
		{
			name: "above target scales out", target: 0.6, value: 0.84, current: 10, ready: 10,
			want:   recommends(14),
			reason: []string{"cpu 0.84 vs target 0.6 at 10 ready instances: ceil(10 × 0.84 / 0.6) = 14"},
		},
		{
			name: "within tolerance holds", target: 0.6, value: 0.63, current: 10, ready: 10,
			want:   recommends(10),
			reason: []string{"within tolerance (ratio 1.05, band 0.9–1.1): hold 10"},
		},
		{
			name: "tolerance edge is inside", target: 1, value: 1.1, current: 10, ready: 10,
			want:   recommends(10),
			reason: []string{"ratio 1.1", "hold 10"},
		},
		{
			// Kubernetes HPA docs: 200m against 100m doubles the replicas.
			name: "hpa doc: double", target: 0.1, value: 0.2, current: 1, ready: 1,
			want:   recommends(2),
			reason: []string{"ceil(1 × 0.2 / 0.1) = 2"},
		},
		{
			// Kubernetes HPA docs: 50m against 100m halves them.
			name: "hpa doc: halve", target: 0.1, value: 0.05, current: 2, ready: 2,
			want:   recommends(1),
			reason: []string{"ceil(2 × 0.05 / 0.1) = 1"},
		},
		{
			name: "sizes from ready instances, which produced the value", target: 0.6, value: 0.9, current: 10, ready: 8,
			want:   recommends(12),
			reason: []string{"at 8 ready instances", "= 12"},
		},
		{
			name: "none ready yet: sizes from current", target: 0.6, value: 0.9, current: 4, ready: 0,
			want:   recommends(6),
			reason: []string{"at 4 instances, none ready", "ceil(4 × 0.9 / 0.6) = 6"},
		},
		{
			name: "no instances: abstains", target: 0.6, value: 0.9, current: 0, ready: 0,
			want:   abstains,
			reason: []string{"no instances to measure; target tracking cannot size from zero"},
		},
		{
			name: "idle scales to zero", target: 0.6, value: 0, current: 5, ready: 5,
			want:   recommends(0),
			reason: []string{"= 0"},
		},
		{
			name: "huge value is bounded", target: 0.6, value: 1e300, current: 5, ready: 5,
			want:   recommends(maxCount),
			reason: []string{"cpu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Target: &config.Target{Signal: "cpu", Value: tt.target, Mode: "average"}}, "cpu")
			got, err := p.Evaluate(Input{Current: tt.current, Ready: tt.ready, Values: vals(tt.value), Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

// Instance constructors for the hpa tests.
func readyAt(vs ...float64) []InstanceValue {
	var out []InstanceValue
	for _, v := range vs {
		out = append(out, InstanceValue{Ready: true, Warm: true, Value: Value{V: v, OK: true}})
	}
	return out
}

func notReady(n int) []InstanceValue {
	return repeat(n, InstanceValue{Ready: false, Warm: true, Value: Value{V: 0.99, OK: true}})
}

func cold(n int) []InstanceValue {
	return repeat(n, InstanceValue{Ready: true, Warm: false, Value: Value{V: 0.99, OK: true}})
}

func missingAt(n int) []InstanceValue {
	return repeat(n, InstanceValue{Ready: true, Warm: true})
}

func repeat(n int, iv InstanceValue) []InstanceValue {
	out := make([]InstanceValue, n)
	for i := range out {
		out[i] = iv
	}
	return out
}

func join(groups ...[]InstanceValue) []InstanceValue {
	var out []InstanceValue
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// cpuSignals declares the signal named cpu a CPU utilization.
type cpuSignals struct{ IndexFunc }

func (cpuSignals) CPU(name string) bool { return name == "cpu" }

// TestTargetHPA follows the Kubernetes replica calculator for the CPU
// resource metric.
func TestTargetHPA(t *testing.T) {
	tests := []struct {
		name      string
		target    float64
		current   int
		instances []InstanceValue
		want      outcome
		reason    []string
		err       string
	}{
		{
			name: "all ready: plain ratio", target: 0.5, current: 4,
			instances: readyAt(0.8, 0.9, 0.7, 0.8),
			want:      recommends(7),
			reason:    []string{"cpu averages 0.8 over 4 ready instances vs target 0.5: ceil(4 × 0.8 / 0.5) = 7"},
		},
		{
			name: "all ready: within tolerance", target: 0.5, current: 4,
			instances: readyAt(0.52, 0.5, 0.48, 0.53),
			want:      recommends(4),
			reason:    []string{"ratio 1.015", "hold 4"},
		},
		{
			name: "hpa doc: one replica at 200m vs 100m", target: 0.1, current: 1,
			instances: readyAt(0.2),
			want:      recommends(2),
			reason:    []string{"ceil(1 × 0.2 / 0.1) = 2"},
		},
		{
			name: "hpa doc: two replicas at 50m vs 100m", target: 0.1, current: 2,
			instances: readyAt(0.05, 0.05),
			want:      recommends(1),
			reason:    []string{"ceil(2 × 0.05 / 0.1) = 1"},
		},
		{
			// Plainly, 2 × 1.6 = 3.2 → 4 would shrink a hot group of 5;
			// counting the 3 not ready at 0 gives 0.64: the direction flips.
			name: "not ready at 0 flips a scale-out: hold", target: 0.5, current: 5,
			instances: join(readyAt(0.8, 0.8), notReady(3)),
			want:      recommends(5),
			reason:    []string{"ratio 1.6 on ready instances; with 3 not ready counted as 0: ratio 0.64 reverses the direction: hold 5"},
		},
		{
			// Plainly ceil(9 × 1.2) = 11; with the launching one at 0 the
			// ratio is 1.08, within tolerance.
			name: "not ready at 0 lands within tolerance: hold", target: 0.5, current: 10,
			instances: join(readyAt(0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6), notReady(1)),
			want:      recommends(10),
			reason:    []string{"with 1 not ready counted as 0: ratio 1.08 within tolerance: hold 10"},
		},
		{
			name: "warming up counts as not ready", target: 0.5, current: 10,
			instances: join(readyAt(0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6), cold(1)),
			want:      recommends(10),
			reason:    []string{"1 not ready counted as 0"},
		},
		{
			name: "not ready at 0, still a scale-out", target: 0.6, current: 6,
			instances: join(readyAt(1.2, 1.2, 1.2, 1.2), notReady(2)),
			want:      recommends(8),
			reason:    []string{"ratio 2 on ready instances; with 2 not ready counted as 0: ceil(6 × 1.333) = 8"},
		},
		{
			name: "not ready are left out of a scale-in", target: 0.5, current: 5,
			instances: join(readyAt(0.2, 0.2), notReady(3)),
			want:      recommends(1),
			reason:    []string{"cpu averages 0.2 over 2 ready instances", "= 1"},
		},
		{
			// Plainly ceil(2 × 0.4) = 1; the silent ones might be busy:
			// Kubernetes counts a CPU pod without a metric at 100% of its
			// request on a scale-in, which here flips the direction.
			name: "missing at 100% on a scale-in", target: 0.5, current: 4,
			instances: join(readyAt(0.2, 0.2), missingAt(2)),
			want:      recommends(4),
			reason:    []string{"ratio 0.4 on ready instances; with 2 missing counted at 100%: ratio 1.2 reverses the direction: hold 4"},
		},
		{
			// A target above 100%: the missing count at the target.
			name: "missing at the target when it is above 100%", target: 1.5, current: 4,
			instances: join(readyAt(0.3, 0.3), missingAt(2)),
			want:      recommends(3),
			reason:    []string{"ratio 0.2 on ready instances; with 2 missing counted at target: ceil(4 × 0.6) = 3"},
		},
		{
			// Plainly ceil(1 × 1.2) = 2 would halve the group because one
			// instance reported high.
			name: "missing at 0 flip a scale-out: hold", target: 0.5, current: 4,
			instances: join(readyAt(0.6), missingAt(3)),
			want:      recommends(4),
			reason:    []string{"with 3 missing counted as 0: ratio 0.3 reverses the direction: hold 4"},
		},

		{
			name: "missing and not ready on a scale-out", target: 0.5, current: 6,
			instances: join(readyAt(1, 1, 1), missingAt(1), notReady(2)),
			want:      recommends(6),
			reason:    []string{"with 3 missing or not ready counted as 0: ratio 1 within tolerance: hold 6"},
		},
		{
			name: "NaN is missing", target: 0.5, current: 4,
			instances: join(readyAt(0.2, 0.2), []InstanceValue{{Ready: true, Warm: true, Value: Value{V: math.NaN(), OK: true}}}, missingAt(1)),
			want:      recommends(4),
			reason:    []string{"2 missing counted at 100%"},
		},
		{
			name: "no ready instance reported", target: 0.5, current: 3,
			instances: join(notReady(2), cold(1)),
			err:       "no ready instance reported cpu",
		},
		{
			name: "no per-instance values: average", target: 0.6, current: 10,
			want:   recommends(14),
			reason: []string{"cpu 0.84 vs target 0.6 at 10 ready instances: ceil(10 × 0.84 / 0.6) = 14"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(config.Policy{Target: &config.Target{Signal: "cpu", Value: tt.target, Mode: "hpa"}}, cpuSignals{indexOf("mem", "cpu")})
			if err != nil {
				t.Fatal(err)
			}
			in := Input{
				Current:     tt.current,
				Ready:       tt.current,
				Values:      vals(0.5, 0.84),
				PerInstance: [][]InstanceValue{nil, tt.instances},
				Tolerance:   tol,
			}
			got, err := p.Evaluate(in)
			if tt.err != "" {
				expectErr(t, got, err, tt.err)
				return
			}
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

// For metrics other than CPU, Kubernetes counts every pod's value, ready
// or not; pods without a value are missing (counted at the target on a
// scale-in), and pods not ready without a value are set aside.
func TestTargetHPAOtherMetrics(t *testing.T) {
	tests := []struct {
		name      string
		target    float64
		current   int
		instances []InstanceValue
		want      outcome
		reason    []string
	}{
		{
			// For CPU the 3 not ready would be set aside and the hold
			// flip; here their 0.99 counts: (0.8+0.8+3×0.99)/5 = 0.914.
			name: "not ready instances' values count", target: 0.5, current: 5,
			instances: join(readyAt(0.8, 0.8), notReady(3)),
			want:      recommends(10),
			reason:    []string{"load averages 0.914 over 5 instances reporting vs target 0.5: ceil(5 × 0.914 / 0.5) = 10"},
		},
		{
			name: "warming up counts", target: 0.5, current: 10,
			instances: join(readyAt(0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6), cold(1)),
			want:      recommends(13),
			reason:    []string{"ceil(10 × 0.639 / 0.5) = 13"},
		},
		{
			name: "pending without a value set aside on a scale-out", target: 0.6, current: 6,
			instances: join(readyAt(1.2, 1.2, 1.2, 1.2), repeat(2, InstanceValue{Ready: false, Warm: true})),
			want:      recommends(8),
			reason:    []string{"ratio 2 on instances reporting; with 2 not ready counted as 0: ceil(6 × 1.333) = 8"},
		},
		{
			// Plainly ceil(2 × 0.4) = 1; the silent ones might be busy.
			name: "missing at target soften a scale-in", target: 0.5, current: 4,
			instances: join(readyAt(0.2, 0.2), missingAt(2)),
			want:      recommends(3),
			reason:    []string{"ratio 0.4 on instances reporting; with 2 missing counted at target: ceil(4 × 0.7) = 3"},
		},
		{
			// The recount is still a scale-in (0.8) but over 4 instances
			// asks for more than the 2 the group has.
			name: "result against the ratio's direction: hold", target: 0.5, current: 2,
			instances: join(readyAt(0.1), missingAt(3)),
			want:      recommends(2),
			reason:    []string{"ratio 0.8 gives 4, the other way: hold 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Target: &config.Target{Signal: "load", Value: tt.target, Mode: "hpa"}}, "mem", "load")
			got, err := p.Evaluate(Input{Current: tt.current, Ready: tt.current, Values: vals(0.5, 0.84),
				PerInstance: [][]InstanceValue{nil, tt.instances}, Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

// An object or external metric (no per-instance values) at 0 instances:
// Kubernetes sizes it as ceil(value / target), without a tolerance check.
func TestTargetHPAFromZero(t *testing.T) {
	tests := []struct {
		name  string
		value float64
		want  outcome
	}{
		{"wakes to ceil(ratio)", 250, recommends(3)},
		{"just above target, no tolerance", 105, recommends(2)},
		{"within what tolerance would hold", 95, recommends(1)},
		{"nothing to do stays at zero", 0, recommends(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Target: &config.Target{Signal: "rps", Value: 100, Mode: "hpa"}}, "rps")
			got, err := p.Evaluate(Input{Current: 0, Values: vals(tt.value), Tolerance: tol})
			expect(t, got, err, tt.want, "at 0 instances: ceil(")
		})
	}
	// The average mode cannot size from zero.
	p := mustNew(t, config.Policy{Target: &config.Target{Signal: "rps", Value: 100}}, "rps")
	got, err := p.Evaluate(Input{Current: 0, Values: vals(250), Tolerance: tol})
	expect(t, got, err, abstains, "cannot size from zero")
}
