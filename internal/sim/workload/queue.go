package workload

import (
	"errors"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// QueueConfig is a queue-worker workload (seed 003: SQS or Redis list
// workers stopped gracefully, never mid-job).
type QueueConfig struct {
	Service   Durations       `yaml:"service" doc:"Each job's service time."`
	PerWorker int             `yaml:"per_worker" default:"4" doc:"Jobs one instance works at once (k)."`
	MaxWait   config.Duration `yaml:"max_wait" default:"1m" doc:"The SLO: the oldest waiting job has waited less than this."`
	Arrivals  string          `yaml:"arrivals" default:"poisson" enum:"poisson,even" doc:"How a rate becomes whole jobs per step: poisson draws, or even (the rate's running total, rounded down)."`
	Batches   int             `yaml:"batches" default:"16" doc:"Batches of jobs one instance holds before jobs that start together share a service time (see the package doc): more is finer and slower."`
	Tail      float64         `yaml:"tail" default:"0.01" doc:"Demand: the fraction of jobs allowed to wait longer than max_wait in steady state."`
}

// Validate checks the config.
func (c *QueueConfig) Validate() error {
	errs := []error{config.Under("service", c.Service.Validate()), validateArrivals(c.Arrivals)}
	errs = append(errs, validateSlots(c.PerWorker, c.MaxWait, c.Batches, c.Tail)...)
	return errors.Join(errs...)
}

// validateSlots checks the settings the queue and OLAP models share.
func validateSlots(perWorker int, maxWait config.Duration, batches int, tail float64) []error {
	var errs []error
	if perWorker < 1 || perWorker > 100000 {
		errs = append(errs, config.Problem("per_worker", "must be 1 to 100000, not %d", perWorker))
	}
	if maxWait.D() <= 0 {
		errs = append(errs, config.Problem("max_wait", "must be > 0, not %s", maxWait))
	}
	if batches < 1 || batches > 1024 {
		errs = append(errs, config.Problem("batches", "must be 1 to 1024, not %d", batches))
	}
	if !(tail > 0 && tail < 1) {
		errs = append(errs, config.Problem("tail", "must be between 0 and 1, not %g", tail))
	}
	return errs
}

// Queue is the queue-worker model. Signals:
//
//	arrival_rate jobs/s arriving (λ, the last step's rate)
//	queue        jobs waiting
//	in_flight    jobs being worked, on every instance (draining ones too)
//	backlog      queue + in_flight
//	busy         the fraction of serving instances' slots in use (0 with none)
//	age_s        how long the oldest waiting job has waited, in seconds
//
// The SLO is violated while age_s ≥ max_wait. A draining instance takes no
// job and is Busy until its jobs end; Stopped with jobs held loses them.
type Queue struct {
	cfg QueueConfig
	s   *slots
}

var _ Throttleable = (*Queue)(nil)

// NewQueue makes a queue model; seed drives its random draws.
func NewQueue(cfg QueueConfig, seed uint64) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, s: newSlots(cfg.PerWorker, cfg.Batches, cfg.Service.dist(), nil, cfg.Arrivals, seed)}, nil
}

// Step implements Model.
func (q *Queue) Step(now, dt time.Duration, rate float64, insts []Instance) {
	q.s.step(now, dt, rate, insts)
}

// Signals implements Model.
func (q *Queue) Signals() map[string]float64 { return newSignals(q) }

// queueSignals are the queue's signals, in SignalReader's order.
var queueSignals = []string{"arrival_rate", "queue", "in_flight", "backlog", "busy", "age_s"}

// SignalNames implements SignalReader.
func (q *Queue) SignalNames() []string { return queueSignals }

// Signal implements SignalReader.
func (q *Queue) Signal(i int) float64 {
	w := &q.s.work
	switch i {
	case 0:
		return q.s.rate
	case 1:
		return w.Queued
	case 2:
		return w.InFlight
	case 3:
		return w.Queued + w.InFlight
	case 4:
		return q.s.busyFraction()
	default:
		return q.s.age()
	}
}

func (s *slots) busyFraction() float64 {
	if s.nServing == 0 {
		return 0
	}
	return s.held / (float64(s.nServing) * s.k)
}

// Busy implements Model.
func (q *Queue) Busy(id string) bool { return q.s.busy(id) }

// Violating implements Model.
func (q *Queue) Violating() bool { return q.s.age() >= q.cfg.MaxWait.D().Seconds() }

// Work implements Model.
func (q *Queue) Work() Work { return q.s.work }

// Stopped implements Model.
func (q *Queue) Stopped(id string) { q.s.stopped(id) }

// Demand implements Model: the fewest instances c whose c·k slots, as an
// M/G/(c·k) queue (see mgnWaitTail), keep all but `tail` of the jobs
// waiting less than max_wait.
func (q *Queue) Demand(rate float64) int {
	return slotDemand(rate, q.s.dur, q.cfg.PerWorker, q.cfg.MaxWait.D().Seconds(), q.cfg.Tail)
}

// FullSpeed implements Throttleable: jobs per second.
func (q *Queue) FullSpeed(dt time.Duration, rate float64, insts []Instance) float64 {
	return q.s.fullSpeed(dt, rate, insts)
}

// SetSpeed implements Throttleable.
func (q *Queue) SetSpeed(f float64) { q.s.speed = f }

// slotDemand is the fewest instances of k slots each that keep P(wait ≥
// bound) ≤ tail at rate in an M/G/(c·k) queue (see mgnWaitTail).
func slotDemand(rate float64, d dist, k int, bound, tail float64) int {
	rate = sanitize(rate)
	if rate == 0 {
		return 0
	}
	a := rate * d.mean
	decay := 2 / (1 + d.cv2())
	n := erlangScan(a, k, func(n int, c float64) bool {
		return n%k == 0 && c*math.Exp(-(float64(n)/d.mean-rate)*bound*decay) <= tail
	})
	return n / k
}
