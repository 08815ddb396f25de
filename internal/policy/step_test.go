package policy

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// The AWS Auto Scaling documentation's step scaling example: threshold 50,
// capacity 10, scale-out steps 0–10 → 0, 10–20 → +10%, 20+ → +30%, and
// scale-in steps −10–0 → 0, −20–−10 → −10%, below −20 → −30%.
var awsSteps = []config.StepAdjustment{
	{From: f64(0), To: f64(10), Adjust: 0},
	{From: f64(10), To: f64(20), Adjust: 10},
	{From: f64(20), Adjust: 30},
	{From: f64(-10), To: f64(0), Adjust: 0},
	{From: f64(-20), To: f64(-10), Adjust: -10},
	{To: f64(-20), Adjust: -30},
}

func TestStep(t *testing.T) {
	tests := []struct {
		name         string
		adjustment   string
		minMagnitude int
		steps        []config.StepAdjustment
		current      int
		value        float64
		want         outcome
		reason       []string
	}{
		{
			name: "aws: 60 adds 10%", adjustment: "percent", steps: awsSteps, current: 10, value: 60,
			want:   recommends(11),
			reason: []string{"cpu 60 vs threshold 50 (breach 10) in step [10, 20): +10% of 10 is 1, change by 1 to 11"},
		},
		{
			name: "aws: 70 adds 30%", adjustment: "percent", steps: awsSteps, current: 10, value: 70,
			want:   recommends(13),
			reason: []string{"breach 20", "step [20, +inf)", "+30% of 10 is 3", "to 13"},
		},
		{
			name: "aws: 40 removes 10%", adjustment: "percent", steps: awsSteps, current: 10, value: 40,
			want:   recommends(9),
			reason: []string{"breach -10", "step (-20, -10]", "-10% of 10 is -1", "to 9"},
		},
		{
			name: "aws: 30 removes 30%", adjustment: "percent", steps: awsSteps, current: 10, value: 30,
			want:   recommends(7),
			reason: []string{"step (-inf, -20]", "-30% of 10 is -3", "to 7"},
		},
		{
			name: "aws: 55 is in the no-change step", adjustment: "percent", steps: awsSteps, current: 10, value: 55,
			want:   recommends(10),
			reason: []string{"step [0, 10)", "change by 0 to 10"},
		},
		// Edges: at or above the threshold the lower bound is inclusive;
		// below it the upper bound is.
		{
			name: "edge: breach 0 is in [0, 10)", adjustment: "percent", steps: awsSteps, current: 10, value: 50,
			want:   recommends(10),
			reason: []string{"breach 0", "step [0, 10)"},
		},
		{
			name: "edge: breach 10 is in [10, 20)", adjustment: "percent", steps: awsSteps, current: 10, value: 60,
			want:   recommends(11),
			reason: []string{"step [10, 20)"},
		},
		{
			name: "edge: breach 20 is in [20, +inf)", adjustment: "percent", steps: awsSteps, current: 10, value: 70,
			want:   recommends(13),
			reason: []string{"step [20, +inf)"},
		},
		{
			name: "edge: breach -10 is in (-20, -10]", adjustment: "percent", steps: awsSteps, current: 10, value: 40,
			want:   recommends(9),
			reason: []string{"step (-20, -10]"},
		},
		{
			name: "edge: breach -20 is in (-inf, -20]", adjustment: "percent", steps: awsSteps, current: 10, value: 30,
			want:   recommends(7),
			reason: []string{"step (-inf, -20]"},
		},
		{
			name: "edge: just below the threshold is in (-10, 0)", adjustment: "percent", steps: awsSteps, current: 10, value: 49.9,
			want:   recommends(10),
			reason: []string{"step (-10, 0)"},
		},
		{
			name: "no step matches: abstain", adjustment: "change",
			steps:   []config.StepAdjustment{{From: f64(10), Adjust: 2}},
			current: 10, value: 42,
			want:   abstains,
			reason: []string{"cpu 42 is within no step (threshold 50)"},
		},
		// AWS rounding of percent changes.
		{
			name: "rounding: 12.7 rounds down to 12", adjustment: "percent",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 10}},
			current: 127, value: 60,
			want:   recommends(139),
			reason: []string{"+10% of 127 is 12.7, change by 12 to 139"},
		},
		{
			name: "rounding: 0.67 becomes 1", adjustment: "percent",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 1}},
			current: 67, value: 60,
			want:   recommends(68),
			reason: []string{"+1% of 67 is 0.67, change by 1 to 68"},
		},
		{
			name: "rounding: -0.58 becomes -1", adjustment: "percent",
			steps:   []config.StepAdjustment{{To: f64(0), Adjust: -1}},
			current: 58, value: 40,
			want:   recommends(57),
			reason: []string{"-1% of 58 is -0.58, change by -1 to 57"},
		},
		{
			name: "rounding: -6.67 rounds up to -6", adjustment: "percent",
			steps:   []config.StepAdjustment{{To: f64(0), Adjust: -1}},
			current: 667, value: 40,
			want:   recommends(661),
			reason: []string{"-1% of 667 is -6.67, change by -6 to 661"},
		},
		{
			name: "min magnitude: +25% of 4 is 1", adjustment: "percent",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 25}},
			current: 4, value: 60,
			want:   recommends(5),
			reason: []string{"+25% of 4 is 1, change by 1 to 5"},
		},
		{
			name: "min magnitude: raised to 2", adjustment: "percent", minMagnitude: 2,
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 25}},
			current: 4, value: 60,
			want:   recommends(6),
			reason: []string{"+25% of 4 is 1, below min magnitude 2: change by 2 to 6"},
		},
		{
			name: "min magnitude keeps the sign", adjustment: "percent", minMagnitude: 3,
			steps:   []config.StepAdjustment{{To: f64(0), Adjust: -10}},
			current: 10, value: 40,
			want:   recommends(7),
			reason: []string{"below min magnitude 3: change by -3 to 7"},
		},
		{
			name: "min magnitude wakes a group at zero", adjustment: "percent", minMagnitude: 2,
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 50}},
			current: 0, value: 60,
			want:   recommends(2),
			reason: []string{"+50% of 0 is 0, below min magnitude 2: change by 2 to 2"},
		},
		{
			name: "percent never below zero", adjustment: "percent",
			steps:   []config.StepAdjustment{{To: f64(0), Adjust: -300}},
			current: 4, value: 40,
			want:   recommends(0),
			reason: []string{"-300% of 4 is -12", "to 0"},
		},
		{
			name: "exact capacity", adjustment: "exact",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 20}},
			current: 4, value: 60,
			want:   recommends(20),
			reason: []string{"cpu 60 vs threshold 50 (breach 10) in step [0, +inf): set capacity to 20"},
		},
		{
			name: "change adds", adjustment: "change",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 2}},
			current: 10, value: 60,
			want:   recommends(12),
			reason: []string{"change by +2: 10 → 12"},
		},
		{
			name: "change never below zero", adjustment: "change",
			steps:   []config.StepAdjustment{{To: f64(0), Adjust: -3}},
			current: 1, value: 40,
			want:   recommends(0),
			reason: []string{"change by -3: 1 → 0"},
		},
		{
			name: "huge change is bounded", adjustment: "change",
			steps:   []config.StepAdjustment{{From: f64(0), Adjust: 1 << 62}},
			current: 10, value: 60,
			want: recommends(maxCount),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Step: &config.Step{
				Signal: "cpu", Threshold: 50, Adjustment: tt.adjustment, MinMagnitude: tt.minMagnitude, Steps: tt.steps,
			}}, "cpu")
			got, err := p.Evaluate(Input{Current: tt.current, Ready: tt.current, Values: vals(tt.value), Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

func TestAWSRound(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want int
	}{
		{name: "above 1 rounds down", in: 12.7, want: 12},
		{name: "exactly 1", in: 1, want: 1},
		{name: "between 0 and 1 is 1", in: 0.67, want: 1},
		{name: "zero", in: 0, want: 0},
		{name: "between -1 and 0 is -1", in: -0.58, want: -1},
		{name: "exactly -1", in: -1, want: -1},
		{name: "below -1 rounds toward zero", in: -6.67, want: -6},
		{name: "huge is bounded", in: 1e300, want: maxCount},
		{name: "huge negative is bounded", in: -1e300, want: -maxCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awsRound(tt.in); got != tt.want {
				t.Errorf("awsRound(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
