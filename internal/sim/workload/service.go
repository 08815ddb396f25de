package workload

import (
	"errors"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// ServiceConfig is a request/response service: each instance one server of
// an M/M/c queue.
type ServiceConfig struct {
	CapacityRPS    float64         `yaml:"capacity_rps" default:"100" doc:"Requests per second one instance serves when busy all the time (μ); its mean service time is 1/μ."`
	MaxLatency     config.Duration `yaml:"max_latency" default:"250ms" doc:"The SLO: mean response time below this. Must exceed the service time 1/capacity_rps."`
	MaxUtilization float64         `yaml:"max_utilization" doc:"Also an SLO when > 0: utilization at or below this."`
}

// Validate checks the config.
func (c *ServiceConfig) Validate() error {
	var errs []error
	if !(c.CapacityRPS > 0 && c.CapacityRPS < 1e9) {
		errs = append(errs, config.Problem("capacity_rps", "must be > 0, not %g", c.CapacityRPS))
	} else if c.MaxLatency.D().Seconds()*c.CapacityRPS <= 1 {
		errs = append(errs, config.Problem("max_latency", "must exceed the service time 1/capacity_rps (%s), not %s",
			time.Duration(float64(time.Second)/c.CapacityRPS), c.MaxLatency))
	}
	if c.MaxLatency.D() <= 0 {
		errs = append(errs, config.Problem("max_latency", "must be > 0, not %s", c.MaxLatency))
	}
	if !(c.MaxUtilization >= 0 && c.MaxUtilization <= 1) {
		errs = append(errs, config.Problem("max_utilization", "must be 0 (off) to 1, not %g", c.MaxUtilization))
	}
	return errors.Join(errs...)
}

// Service is the request/response model, a fluid M/M/c: requests are many
// and short, so they are counted as real numbers, not drawn.
//
// In a step of dt with c serving instances at capacity μ each (μ times the
// backend's speed when wrapped), the step's arrivals λ·dt join the backlog
// Q; the instances take min(Q + λ·dt, c·μ·dt) of it, and the rest is the new
// Q (Queued). Of what they took, the requests still in service at the
// step's end (InFlight) are the busy servers, throughput/μ, at most what
// was taken; they finish at the start of the next step, so a draining
// instance is idle after one step. The rest completed.
//
// Signals:
//
//	utilization      λ / (c·μ), the offered load (above 1 when overloaded)
//	latency_ms       W = 1/μ + C(c, a')/(c·μ − λ') + Q/(c·μ), in ms
//	rps              λ
//	rps_per_instance λ / c
//
// The latency is M/M/c's mean response time (Erlang C) with λ' = min(λ,
// 0.99·c·μ), a' = λ'/μ, plus the time the backlog Q takes to clear at full
// capacity: continuous and non-decreasing in λ, finite when overloaded,
// and growing with the backlog while it lasts. With no serving instance the
// signals are computed as if c were 1. The SLO is violated while W ≥
// max_latency (or utilization > max_utilization when set).
type Service struct {
	cfg     ServiceConfig
	fl      fleet[float64] // each member's requests in service
	holders []int32        // the members serving at the last step
	work    Work
	speed   float64
	backlog float64
	sig     struct{ util, latency, rps, perInst float64 }
}

var _ Throttleable = (*Service)(nil)

// NewService makes a service model.
func NewService(cfg ServiceConfig) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, fl: newFleet[float64](), speed: 1}, nil
}

// Step implements Model.
func (s *Service) Step(now, dt time.Duration, rate float64, insts []Instance) {
	d := seconds(dt)
	rate = sanitize(rate)
	members := s.fl.sync(insts)
	// What was in service at the last step's end finishes now.
	s.work.Completed += s.work.InFlight
	s.work.InFlight = 0
	for _, i := range s.holders {
		s.fl.at(i).s = 0
	}
	s.holders = s.holders[:0]
	for _, i := range members {
		if s.fl.at(i).serving {
			s.holders = append(s.holders, i)
		}
	}
	c := float64(len(s.holders))
	mu := s.cfg.CapacityRPS * s.speed
	arr := rate * d
	s.work.Submitted += arr
	in := s.backlog + arr
	taken := min(in, c*mu*d)
	s.backlog = in - taken
	if s.backlog < 1e-9*max(in, 1) {
		s.backlog = 0
	}
	var inService float64
	if mu > 0 && d > 0 {
		inService = min(taken/(d*mu), taken)
	}
	s.work.Queued = s.backlog
	s.work.InFlight = inService
	s.work.Completed += taken - inService
	for _, i := range s.holders {
		s.fl.at(i).s = inService / c
	}
	s.signals(rate, c)
}

func (s *Service) signals(rate, c float64) {
	c = max(c, 1)
	mu := s.cfg.CapacityRPS * max(s.speed, 1e-6)
	s.sig.rps = rate
	s.sig.perInst = rate / c
	s.sig.util = rate / (c * mu)
	s.sig.latency = 1000 * (mmcResponse(int(c), min(rate, 0.99*c*mu), mu) + s.backlog/(c*mu))
}

// mmcResponse is M/M/c's mean response time; λ < c·μ.
func mmcResponse(c int, lambda, mu float64) float64 {
	return 1/mu + erlangC(c, lambda/mu)/(float64(c)*mu-lambda)
}

// Signals implements Model.
func (s *Service) Signals() map[string]float64 { return newSignals(s) }

// serviceSignals are the service's signals, in SignalReader's order.
var serviceSignals = []string{"utilization", "latency_ms", "rps", "rps_per_instance"}

// SignalNames implements SignalReader.
func (s *Service) SignalNames() []string { return serviceSignals }

// Signal implements SignalReader.
func (s *Service) Signal(i int) float64 {
	switch i {
	case 0:
		return s.sig.util
	case 1:
		return s.sig.latency
	case 2:
		return s.sig.rps
	default:
		return s.sig.perInst
	}
}

// Busy implements Model.
func (s *Service) Busy(id string) bool {
	m := s.fl.get(id)
	return m != nil && m.s > 0
}

// Violating implements Model.
func (s *Service) Violating() bool {
	if s.cfg.MaxUtilization > 0 && s.sig.util > s.cfg.MaxUtilization {
		return true
	}
	return s.sig.latency >= 1000*s.cfg.MaxLatency.D().Seconds()
}

// Work implements Model.
func (s *Service) Work() Work { return s.work }

// Stopped implements Model.
func (s *Service) Stopped(id string) {
	_, m, ok := s.fl.remove(id)
	if !ok || m.s == 0 {
		return
	}
	s.work.Lost += m.s
	s.work.InFlight -= m.s
}

// Demand implements Model: the fewest instances with λ < c·μ whose M/M/c
// mean response time is below max_latency (and utilization at most
// max_utilization when set).
func (s *Service) Demand(rate float64) int {
	rate = sanitize(rate)
	if rate == 0 {
		return 0
	}
	mu := s.cfg.CapacityRPS
	bound := s.cfg.MaxLatency.D().Seconds()
	from := 1
	if u := s.cfg.MaxUtilization; u > 0 {
		from = int(math.Ceil(rate/(u*mu) - 1e-9))
	}
	return erlangScan(rate/mu, from, func(c int, ec float64) bool {
		return 1/mu+ec/(float64(c)*mu-rate) < bound
	})
}

// FullSpeed implements Throttleable: requests per second.
func (s *Service) FullSpeed(dt time.Duration, rate float64, insts []Instance) float64 {
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
	return min(s.backlog/d+sanitize(rate), c*s.cfg.CapacityRPS)
}

// SetSpeed implements Throttleable.
func (s *Service) SetSpeed(f float64) { s.speed = f }
