package workload

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// StreamingConfig is a streaming job (seed 004: Beam on Flink) whose
// parallelism is the serving workers.
type StreamingConfig struct {
	PerWorkerRPS float64         `yaml:"per_worker_rps" default:"1000" doc:"Records per second one worker processes at full speed (μ)."`
	Restart      config.Duration `yaml:"restart" default:"30s" doc:"How long processing stops when the serving workers change: the job restarts from its last checkpoint."`
	MaxLag       config.Duration `yaml:"max_lag" default:"1m" doc:"The SLO: backlog time (lag_s) below this."`
}

// Validate checks the config.
func (c *StreamingConfig) Validate() error {
	var errs []error
	if !(c.PerWorkerRPS > 0 && c.PerWorkerRPS < 1e12) {
		errs = append(errs, config.Problem("per_worker_rps", "must be > 0, not %g", c.PerWorkerRPS))
	}
	if c.MaxLag.D() <= 0 {
		errs = append(errs, config.Problem("max_lag", "must be > 0, not %s", c.MaxLag))
	}
	return errors.Join(errs...)
}

// Streaming is the streaming model, a fluid one: records are counted as
// real numbers.
//
// In a step of dt with c serving workers, the job processes min(backlog +
// λ·dt, c·μ·active) records, active being the part of the step it is not
// restarting; the rest is the backlog (Queued). Every change of the set of
// serving workers (after the first Step) stops processing for `restart`
// from the step's start; a change during a restart starts it over. Records
// are never in flight and never lost: the backlog waits in the source, the
// state in checkpoints, so no worker is ever Busy.
//
// Signals:
//
//	input_rate records/s arriving (λ)
//	throughput records/s processed over the last step
//	backlog    records waiting
//	lag_s      backlog / throughput; while nothing was processed, backlog
//	           over the serving workers' capacity c·μ (c counted as at
//	           least 1), so it stays finite; 0 without backlog
//	busy       processed / (c·μ·dt): the share of the step's full-speed
//	           capacity used (restarts count as idle; 0 with no worker)
//
// The SLO is violated while lag_s ≥ max_lag.
type Streaming struct {
	cfg        StreamingConfig
	started    bool
	cur, prev  []string // serving ids; prev sorted
	pauseUntil float64
	restarts   int
	speed      float64
	work       Work
	sig        struct{ input, throughput, lag, busy float64 }
}

var _ Throttleable = (*Streaming)(nil)

// NewStreaming makes a streaming model.
func NewStreaming(cfg StreamingConfig) (*Streaming, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Streaming{cfg: cfg, speed: 1}, nil
}

// Step implements Model.
func (s *Streaming) Step(now, dt time.Duration, rate float64, insts []Instance) {
	t0, d := seconds(now), seconds(dt)
	rate = sanitize(rate)
	s.cur = s.cur[:0]
	for _, in := range insts {
		if in.Serving && !in.Draining {
			s.cur = append(s.cur, in.ID)
		}
	}
	slices.Sort(s.cur)
	if !slices.Equal(s.cur, s.prev) {
		if s.started {
			s.pauseUntil = t0 + s.cfg.Restart.D().Seconds()
			s.restarts++
		}
		s.prev = append(s.prev[:0], s.cur...)
	}
	s.started = true
	c := float64(len(s.cur))
	active := max(0, t0+d-max(t0, s.pauseUntil))
	mu := s.cfg.PerWorkerRPS
	arr := rate * d
	s.work.Submitted += arr
	in := s.work.Queued + arr
	done := min(in, c*mu*s.speed*active)
	s.work.Completed += done
	s.work.Queued = in - done
	if s.work.Queued < 1e-9*max(in, 1) {
		s.work.Queued = 0
	}
	s.sig.input = rate
	s.sig.throughput = 0
	s.sig.busy = 0
	if d > 0 {
		s.sig.throughput = done / d
		if c > 0 {
			s.sig.busy = done / (c * mu * d)
		}
	}
	switch {
	case s.work.Queued == 0:
		s.sig.lag = 0
	case s.sig.throughput > 0:
		s.sig.lag = s.work.Queued / s.sig.throughput
	default:
		s.sig.lag = s.work.Queued / (max(c, 1) * mu)
	}
}

// Restarts is how many times the job restarted.
func (s *Streaming) Restarts() int { return s.restarts }

// Signals implements Model.
func (s *Streaming) Signals() map[string]float64 { return newSignals(s) }

// streamingSignals are the streaming job's signals, in SignalReader's
// order.
var streamingSignals = []string{"input_rate", "throughput", "backlog", "lag_s", "busy"}

// SignalNames implements SignalReader.
func (s *Streaming) SignalNames() []string { return streamingSignals }

// Signal implements SignalReader.
func (s *Streaming) Signal(i int) float64 {
	switch i {
	case 0:
		return s.sig.input
	case 1:
		return s.sig.throughput
	case 2:
		return s.work.Queued
	case 3:
		return s.sig.lag
	default:
		return s.sig.busy
	}
}

// Busy implements Model: never.
func (s *Streaming) Busy(string) bool { return false }

// Violating implements Model.
func (s *Streaming) Violating() bool { return s.sig.lag >= s.cfg.MaxLag.D().Seconds() }

// Work implements Model.
func (s *Streaming) Work() Work { return s.work }

// Stopped implements Model: a stopped worker held nothing.
func (s *Streaming) Stopped(string) {}

// Demand implements Model: enough workers to keep up, ⌈λ/μ⌉ (the backlog
// then stays empty).
func (s *Streaming) Demand(rate float64) int {
	rate = sanitize(rate)
	if rate == 0 {
		return 0
	}
	return int(math.Ceil(rate/s.cfg.PerWorkerRPS - 1e-9))
}

// FullSpeed implements Throttleable: records per second.
func (s *Streaming) FullSpeed(dt time.Duration, rate float64, insts []Instance) float64 {
	c := 0.0
	for _, in := range insts {
		if in.Serving && !in.Draining {
			c++
		}
	}
	d := seconds(dt)
	if d <= 0 {
		return 0
	}
	return min(s.work.Queued/d+sanitize(rate), c*s.cfg.PerWorkerRPS)
}

// SetSpeed implements Throttleable.
func (s *Streaming) SetSpeed(f float64) { s.speed = f }
