package worker

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Queue: "http://127.0.0.1:7070", ID: "w-1", Listen: "127.0.0.1:0"}
	tests := []struct {
		name  string
		tweak func(*Config)
		want  []string // every problem, reported at once
	}{
		{name: "good", tweak: func(*Config) {}},
		{name: "empty", tweak: func(c *Config) { *c = Config{} }, want: []string{
			`queue: "" is not an http:// or https:// base URL`,
			`id: "" is not a worker id`,
			`listen: "" is not host:port`,
		}},
		{name: "queue without scheme", tweak: func(c *Config) { c.Queue = "127.0.0.1:7070" }, want: []string{"queue: "}},
		{name: "bad id", tweak: func(c *Config) { c.ID = "w 1" }, want: []string{`id: "w 1"`}},
		{name: "negative speed", tweak: func(c *Config) { c.Speed = -1 }, want: []string{"speed: -1 must be a positive number"}},
		{name: "NaN speed", tweak: func(c *Config) { c.Speed = math.NaN() }, want: []string{"speed: NaN"}},
		{name: "long poll", tweak: func(c *Config) { c.Poll = time.Minute }, want: []string{"poll: 1m0s is not between 0s and 10s"}},
		{name: "backoff upside down", tweak: func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }, want: []string{"backoff: want 0 < min (1s) <= max (1ms)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.tweak(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := Run(t.Context(), Config{ID: "w1", Listen: "127.0.0.1:0"})
	if err == nil || !strings.HasPrefix(err.Error(), "check worker config: queue: ") {
		t.Fatalf("got %v, want a config error", err)
	}
}

func TestRunReportsListenFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	err := Run(ctx, Config{Queue: "http://127.0.0.1:1", ID: "w1", Listen: "256.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "listen for status on 256.0.0.1:0") {
		t.Fatalf("got %v, want a listen error", err)
	}
}

func TestServiceTime(t *testing.T) {
	tests := []struct {
		speed float64
		ms    int64
		want  time.Duration
	}{
		{speed: 0, ms: 120, want: 120 * time.Millisecond}, // default speed 1
		{speed: 4, ms: 120, want: 30 * time.Millisecond},
		{speed: 0.5, ms: 120, want: 240 * time.Millisecond},
		{speed: 3, ms: 1, want: 333333 * time.Nanosecond},
	}
	for _, tt := range tests {
		c := Config{Speed: tt.speed}.withDefaults()
		if got := c.serviceTime(tt.ms); got != tt.want {
			t.Errorf("speed %v, %d ms: got %s, want %s", tt.speed, tt.ms, got, tt.want)
		}
	}
}

func TestBackoffDelays(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	delays := func(seed int64, n int) []time.Duration {
		b := newBackoff(100*time.Millisecond, 2*time.Second, seed)
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = b.next()
		}
		return out
	}
	got := delays(seed, 12)
	for i, d := range got {
		step := min(100*time.Millisecond<<i, 2*time.Second)
		if d < step/2 || d > step {
			t.Errorf("delay %d: got %s, want within [%s, %s]", i+1, d, step/2, step)
		}
	}
	if again := delays(seed, 12); !slices.Equal(got, again) {
		t.Errorf("same seed, different delays: %v vs %v", got, again)
	}
	if other := delays(seed+1, 12); slices.Equal(got, other) {
		t.Errorf("seeds %d and %d gave the same delays %v", seed, seed+1, got)
	}

	b := newBackoff(100*time.Millisecond, 2*time.Second, seed)
	for range 5 { // 100ms … 1.6s
		b.next()
	}
	for range 100 { // far past the cap: no overflow
		if d := b.next(); d < time.Second || d > 2*time.Second {
			t.Fatalf("capped delay %s outside [1s, 2s]", d)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: got %s, want at most 100ms", d)
	}
}
