package policy

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// streamingSpec is a streaming policy with the configuration defaults.
func streamingSpec() config.Streaming {
	return config.Streaming{
		InputRate:   "input",
		Throughput:  "throughput",
		Backlog:     "lag",
		CPU:         "cpu",
		CatchUp:     dur("60s"),
		CPUTarget:   0.8,
		Up:          config.StreamingUp{BacklogTime: dur("120s"), CPU: 0.9},
		Down:        config.StreamingDown{BacklogTime: dur("10s"), CPU: 0.7},
		MinInterval: dur("5m"),
	}
}

// The scenario: a job of 8 workers, each processing up to about 1,000
// records/s, with input around 8,000 records/s.
func TestStreaming(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		edit      func(*config.Streaming)
		current   int
		input     float64
		tput      float64
		backlog   float64
		cpu       float64
		growth    float64 // read only when the spec names a growth signal
		lastScale time.Duration
		want      outcome
		reason    []string
		err       string
	}{
		{
			name:    "steady state holds",
			current: 8, input: 8000, tput: 8000, backlog: 0, cpu: 0.75,
			want:   recommends(8),
			reason: []string{"cpu 0.75 between 0.7 and 0.9, backlog 0s below 2m: hold 8"},
		},
		{
			name:    "input rises: keep-up size",
			current: 8, input: 12000, tput: 8000, backlog: 0, cpu: 0.95,
			want:   recommends(12),
			reason: []string{"cpu above 0.9: keep up and clear the backlog in 1m: ceil(8 × (12000 + 0 / 60) / 8000) = 12"},
		},
		{
			name:    "backlog: keep up and catch up",
			current: 8, input: 8000, tput: 8000, backlog: 1440000, cpu: 0.85,
			want:   recommends(32),
			reason: []string{"backlog above 2m of processing: keep up and clear the backlog in 1m: ceil(8 × (8000 + 1440000 / 60) / 8000) = 32"},
		},
		{
			name:    "both triggers",
			current: 8, input: 8000, tput: 8000, backlog: 1440000, cpu: 0.95,
			want:   recommends(32),
			reason: []string{"backlog above 2m of processing and cpu above 0.9: keep up"},
		},
		{
			name:    "cpu above 90%: up by cpu",
			current: 8, input: 8000, tput: 8000, backlog: 0, cpu: 0.99,
			want:   recommends(10),
			reason: []string{"cpu above 0.9: size by cpu: ceil(8 × 0.99 / 0.8) = 10"},
		},
		{
			name:    "a trigger means at least one more",
			edit:    func(c *config.Streaming) { c.CPUTarget = 0.95 },
			current: 8, input: 8000, tput: 8000, backlog: 0, cpu: 0.91,
			want:   recommends(9),
			reason: []string{"cpu above 0.9: sizing asks for 8; one more than 8 is 9"},
		},
		{
			name:    "no throughput, cpu trigger: by cpu",
			current: 4, input: 0, tput: 0, backlog: 0, cpu: 0.95,
			want:   recommends(5),
			reason: []string{"ceil(4 × 0.95 / 0.8) = 5"},
		},
		{
			name:    "low cpu, no growth, small backlog: down by cpu",
			current: 8, input: 8000, tput: 8000, backlog: 40000, cpu: 0.35,
			want:   recommends(4),
			reason: []string{"cpu 0.35 < 0.7, no growth (0/s), backlog 5s: ceil(8 × 0.35 / 0.8) = 4"},
		},
		{
			name:    "low cpu but growing backlog: hold",
			current: 8, input: 8500, tput: 8000, backlog: 40000, cpu: 0.35,
			want:   recommends(8),
			reason: []string{"cpu 0.35 is low but the backlog grows 500/s: hold 8"},
		},
		{
			name:    "low cpu but backlog to clear: hold",
			current: 8, input: 8000, tput: 8000, backlog: 160000, cpu: 0.35,
			want:   recommends(8),
			reason: []string{"cpu 0.35 is low but backlog 20s is not below 10s: hold 8"},
		},
		{
			name:    "growth signal overrides input − throughput",
			edit:    func(c *config.Streaming) { c.Growth = "growth" },
			current: 8, input: 8500, tput: 8000, backlog: 40000, cpu: 0.35, growth: -100,
			want:   recommends(4),
			reason: []string{"no growth (-100/s)", "= 4"},
		},
		{
			name:    "idle job keeps one instance",
			current: 2, input: 0, tput: 10, backlog: 0, cpu: 0,
			want:   recommends(1),
			reason: []string{"cpu 0 < 0.7", "down to 1"},
		},
		{
			name:    "cpu sizing never raises a scale-down",
			edit:    func(c *config.Streaming) { c.CPUTarget = 0.5 },
			current: 8, input: 8000, tput: 8000, backlog: 0, cpu: 0.6,
			want:   recommends(8),
			reason: []string{"cpu 0.6 < 0.7 but sizing by cpu_target 0.5 gives 10: hold 8"},
		},
		{
			name:    "within min_interval: hold",
			current: 8, input: 8000, tput: 8000, backlog: 1440000, cpu: 0.99, lastScale: 2 * time.Minute,
			want:   recommends(8),
			reason: []string{"last rescale 2m ago, min_interval 5m: hold 8"},
		},
		{
			name:    "after min_interval: act",
			current: 8, input: 8000, tput: 8000, backlog: 1440000, cpu: 0.85, lastScale: 5 * time.Minute,
			want:   recommends(32),
			reason: []string{"= 32"},
		},
		{
			name:    "max_parallelism caps a scale-up",
			edit:    func(c *config.Streaming) { c.MaxParallelism = 20 },
			current: 8, input: 8000, tput: 8000, backlog: 1440000, cpu: 0.85,
			want:   recommends(20),
			reason: []string{"= 32, capped at max_parallelism 20"},
		},
		{
			name:    "max_parallelism caps a hold",
			edit:    func(c *config.Streaming) { c.MaxParallelism = 20 },
			current: 24, input: 24000, tput: 24000, backlog: 0, cpu: 0.75,
			want:   recommends(20),
			reason: []string{"hold 24, capped at max_parallelism 20"},
		},
		{
			name:    "no throughput with a backlog: cannot size",
			current: 8, input: 8000, tput: 0, backlog: 500, cpu: 0.5,
			err: "throughput is 0: cannot size",
		},
		{
			name:    "no throughput, no instances: start one",
			current: 0, input: 100, tput: 0, backlog: 500, cpu: 0,
			want:   recommends(1),
			reason: []string{"lag 500 with no throughput and no instances: start 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := streamingSpec()
			if tt.edit != nil {
				tt.edit(&spec)
			}
			p := mustNew(t, config.Policy{Streaming: &spec}, "input", "throughput", "lag", "cpu", "growth")
			in := Input{
				Now:       now,
				Current:   tt.current,
				Ready:     tt.current,
				Values:    vals(tt.input, tt.tput, tt.backlog, tt.cpu, tt.growth),
				Tolerance: tol,
			}
			if tt.lastScale > 0 {
				in.LastScale = now.Add(-tt.lastScale)
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
