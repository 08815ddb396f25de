package engine

import (
	"fmt"
	"testing"
	"time"
)

// awsStep is the AWS user guide's step scaling example: threshold 50,
// +10% at a breach of 10 to 20, +30% from 20, on a group of 10.
const awsStep = `
name: web
capacity: {min: 1, max: 100, initial: 10}
signals: {cpu: {stale: 1h}}
policies:
  - step:
      signal: cpu
      threshold: 50
      adjustment: percent
      %s
      steps:
        - {from: 0, to: 10, adjust: 0}
        - {from: 10, to: 20, adjust: 10}
        - {from: 20, adjust: 30}
behavior:
  down: {window: 0s}
`

func cpu(v float64) map[string]float64 { return map[string]float64{"cpu": v} }

// While the instance a step added warms up it counts toward the current
// capacity: a breach in the same step adds nothing, a larger step only the
// difference (the AWS user guide: 60 → 11; 62 → still 11; 70 → 13).
func TestStepWarmupAWSExample(t *testing.T) {
	play(t, fmt.Sprintf(awsStep, "warmup: 300s"), []tick{
		{at: 0, values: cpu(60), want: 11, because: "10% of 10 is 1, change by 1 to 11"},
		{at: time.Minute, values: cpu(62), want: 11, because: "1 instances added within the warm-up 5m still count toward it: +10% of the 10 before them is 1: 11"},
		{at: 2 * time.Minute, values: cpu(70), want: 13, because: "+30% of the 10 before them is 3: 13"},
		// Past the warm-up of both changes, a breach adds again.
		{at: 8 * time.Minute, values: cpu(62), want: 14, because: "10% of 13 is 1.3, change by 1 to 14"},
	})
}

// A sustained breach evaluated every 15 s: with the warm-up the group
// stays at 11 until the warm-up has passed; without it, it grows every
// evaluation.
func TestStepWarmupSustainedBreach(t *testing.T) {
	for _, tt := range []struct {
		warmup string
		want   int
	}{
		{"warmup: 300s", 11},
		{"warmup: 0s", 46},
	} {
		t.Run(tt.warmup, func(t *testing.T) {
			r := newRunner(t, fmt.Sprintf(awsStep, tt.warmup))
			var got int
			for at := time.Duration(0); at <= 285*time.Second; at += 15 * time.Second {
				got = r.at(at, cpu(60)).Desired
			}
			if got != tt.want {
				t.Fatalf("after 285 s at 60: desired %d, want %d", got, tt.want)
			}
		})
	}
}

// The same with change steps (+1, +3): a larger step adds only the
// difference.
func TestStepWarmupChange(t *testing.T) {
	body := `
name: web
capacity: {min: 1, max: 100, initial: 10}
signals: {cpu: {stale: 1h}}
policies:
  - step:
      signal: cpu
      threshold: 50
      steps:
        - {from: 0, to: 10, adjust: 0}
        - {from: 10, to: 20, adjust: 1}
        - {from: 20, adjust: 3}
behavior:
  down: {window: 0s}
`
	play(t, body, []tick{
		{at: 0, values: cpu(60), want: 11, because: "change by +1: 10 → 11"},
		{at: time.Minute, values: cpu(62), want: 11, because: "change by +1 from the 10 before them: 11"},
		{at: 2 * time.Minute, values: cpu(70), want: 13, because: "change by +3 from the 10 before them: 13"},
	})
}
