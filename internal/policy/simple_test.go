package policy

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// TestSimpleMofN feeds one policy a sequence of values sharing one memory, as
// the engine does tick after tick: each case is the next tick.
func TestSimpleMofN(t *testing.T) {
	p := mustNew(t, config.Policy{Simple: &config.Simple{
		Signal: "queue", Above: f64(100), Change: 2, Datapoints: config.MofN{Need: 3, Of: 5},
	}}, "queue")
	var memory model.Datapoints
	ticks := []struct {
		name   string
		value  float64
		want   outcome
		reason []string
	}{
		{name: "1: held once", value: 120, want: abstains,
			reason: []string{"queue 120 above 100 in 1 of the last 5 datapoints, need 3"}},
		{name: "2: not held", value: 80, want: abstains,
			reason: []string{"queue 80, not above 100; held in 1 of the last 5 datapoints, need 3"}},
		{name: "3: held twice", value: 130, want: abstains,
			reason: []string{"queue 130 above 100 in 2 of the last 5 datapoints, need 3"}},
		{name: "4: equal is not above", value: 100, want: abstains,
			reason: []string{"not above 100; held in 2 of the last 5"}},
		{name: "5: third of five fires", value: 150, want: recommends(12),
			reason: []string{"queue 150 above 100 in 3 of the last 5 datapoints (need 3): 10 +2 = 12"}},
		{name: "6: the first datapoint slid out, this one held", value: 140, want: recommends(12),
			reason: []string{"queue 140 above 100 in 3 of the last 5 datapoints"}},
		{name: "7: not held, still 3 of the last 5", value: 90, want: recommends(12),
			reason: []string{"queue 90, not above 100, but held in 3 of the last 5 datapoints (need 3): 10 +2 = 12"}},
		{name: "8: down to 2 of the last 5", value: 90, want: abstains,
			reason: []string{"held in 2 of the last 5 datapoints, need 3"}},
	}
	for _, tt := range ticks {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Evaluate(Input{Current: 10, Values: vals(tt.value), Memory: &memory, Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

func TestSimple(t *testing.T) {
	tests := []struct {
		name    string
		spec    config.Simple
		current int
		value   float64
		want    outcome
		reason  []string
	}{
		{
			name:    "below removes",
			spec:    config.Simple{Signal: "queue", Below: f64(10), Change: -1, Datapoints: config.MofN{Need: 1, Of: 1}},
			current: 4, value: 5,
			want:   recommends(3),
			reason: []string{"queue 5 below 10 in 1 of the last 1 datapoints (need 1): 4 -1 = 3"},
		},
		{
			name:    "never below zero",
			spec:    config.Simple{Signal: "queue", Below: f64(10), Change: -3, Datapoints: config.MofN{Need: 1, Of: 1}},
			current: 1, value: 5,
			want:   recommends(0),
			reason: []string{"1 -3 = 0"},
		},
		{
			name:    "above or below",
			spec:    config.Simple{Signal: "queue", Above: f64(100), Below: f64(10), Change: 1, Datapoints: config.MofN{Need: 1, Of: 1}},
			current: 1, value: 50,
			want:   abstains,
			reason: []string{"queue 50, not above 100 or below 10; held in 0 of the last 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Simple: &tt.spec}, "queue")
			got, err := p.Evaluate(Input{Current: tt.current, Values: vals(tt.value), Memory: &model.Datapoints{}, Tolerance: tol})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}
