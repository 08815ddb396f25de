package policy

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestQueue(t *testing.T) {
	tests := []struct {
		name        string
		perInstance float64
		activation  float64
		current     int
		items       float64
		want        outcome
		reason      []string
	}{
		{
			name: "at or below activation: zero", perInstance: 100, activation: 20, current: 3, items: 12,
			want:   recommends(0),
			reason: []string{"12 items ≤ activation 20: recommend 0"},
		},
		{
			name: "exactly activation: zero", perInstance: 100, activation: 20, current: 3, items: 20,
			want:   recommends(0),
			reason: []string{"20 items ≤ activation 20"},
		},
		{
			name: "empty queue, no activation: zero", perInstance: 100, current: 3, items: 0,
			want:   recommends(0),
			reason: []string{"0 items ≤ activation 0"},
		},
		{
			name: "first items wake a group at zero", perInstance: 100, activation: 20, current: 0, items: 21,
			want:   recommends(1),
			reason: []string{"jobs: 21 items at 100 per instance: ceil(21 / 100) = 1"},
		},
		{
			name: "sizes by items", perInstance: 100, current: 4, items: 1000,
			want:   recommends(10),
			reason: []string{"ceil(1000 / 100) = 10"},
		},
		{
			name: "shrinks by items", perInstance: 100, current: 10, items: 300,
			want:   recommends(3),
			reason: []string{"ceil(300 / 100) = 3"},
		},
		{
			name: "within tolerance: hold", perInstance: 100, current: 10, items: 1050,
			want:   recommends(10),
			reason: []string{"1050 items on 10 instances, 105 each vs 100: within tolerance (ratio 1.05): hold 10"},
		},
		{
			name: "no tolerance from zero", perInstance: 100, current: 0, items: 100,
			want:   recommends(1),
			reason: []string{"ceil(100 / 100) = 1"},
		},
		{
			name: "above a negative activation: at least 1", perInstance: 100, activation: -1, current: 0, items: 0,
			want:   recommends(1),
			reason: []string{"0 items above activation -1: at least 1 instance"},
		},
		{
			name: "huge backlog is bounded", perInstance: 1, current: 1, items: 1e300,
			want: recommends(maxCount),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Queue: &config.Queue{
				Signal: "jobs", PerInstance: tt.perInstance, Activation: tt.activation,
			}}, "jobs")
			got, err := p.Evaluate(Input{Current: tt.current, Ready: tt.current, Values: vals(tt.items), Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}
