package workload

import (
	"errors"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// OLAPConfig is an OLAP cluster's workers (seed 000: Trino): queries of
// heavy-tailed durations and memory, k at once per worker.
type OLAPConfig struct {
	Duration  Durations       `yaml:"duration" default:"{dist: pareto, mean: 30s, alpha: 1.5, max: 1h}" doc:"Each query's running time; the default's cap stands for a query time limit (Trino's query.max-run-time)."`
	Memory    Memory          `yaml:"memory" doc:"Each query's memory."`
	WorkerGiB float64         `yaml:"worker_gib" default:"64" doc:"Query memory one worker has (its pools, general + reserved), GiB."`
	PerWorker int             `yaml:"per_worker" default:"8" doc:"Queries one worker runs at once (k)."`
	MaxWait   config.Duration `yaml:"max_wait" default:"30s" doc:"The SLO: the oldest queued query has waited less than this."`
	Arrivals  string          `yaml:"arrivals" default:"poisson" enum:"poisson,even" doc:"How a rate becomes whole queries per step: poisson draws, or even."`
	Batches   int             `yaml:"batches" default:"16" doc:"Batches of queries one worker holds before queries that start together share a duration (see the package doc)."`
	Tail      float64         `yaml:"tail" default:"0.01" doc:"Demand: the fraction of queries allowed to wait longer than max_wait in steady state."`
}

// Memory is a lognormal distribution of memory per query.
type Memory struct {
	MeanGiB float64 `yaml:"mean_gib" default:"4" doc:"The mean, GiB."`
	Sigma   float64 `yaml:"sigma" default:"1" doc:"The standard deviation of the logarithm; 0: every query uses the mean."`
}

// Validate checks the config.
func (c *OLAPConfig) Validate() error {
	errs := []error{config.Under("duration", c.Duration.Validate()), validateArrivals(c.Arrivals)}
	if !(c.Memory.MeanGiB >= 0 && c.Memory.MeanGiB < 1<<20) {
		errs = append(errs, config.Problem("memory.mean_gib", "must be ≥ 0, not %g", c.Memory.MeanGiB))
	}
	if !(c.Memory.Sigma >= 0 && c.Memory.Sigma <= 4) {
		errs = append(errs, config.Problem("memory.sigma", "must be 0 to 4, not %g", c.Memory.Sigma))
	}
	if !(c.WorkerGiB > 0 && c.WorkerGiB < 1<<30) {
		errs = append(errs, config.Problem("worker_gib", "must be > 0, not %g", c.WorkerGiB))
	}
	errs = append(errs, validateSlots(c.PerWorker, c.MaxWait, c.Batches, c.Tail)...)
	return errors.Join(errs...)
}

// OLAP is the OLAP model. Signals:
//
//	arrival_rate queries/s arriving (λ, the last step's rate)
//	running      queries running, on every worker (draining ones too)
//	queued       queries waiting
//	memory_util  memory the serving workers' queries hold over theirs (0 with none)
//	busy         the fraction of serving workers' slots in use (0 with none)
//
// The SLO is violated while the oldest queued query has waited max_wait or
// more. A draining worker finishes its running queries (graceful shutdown)
// and is Busy until then. Memory does not limit admission: memory_util
// over 1 means the workers would spill or fail queries.
type OLAP struct {
	cfg OLAPConfig
	s   *slots
}

var _ Throttleable = (*OLAP)(nil)

// NewOLAP makes an OLAP model; seed drives its random draws.
func NewOLAP(cfg OLAPConfig, seed uint64) (*OLAP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mem := &dist{kind: shapeLognormal, mean: cfg.Memory.MeanGiB, sigma: cfg.Memory.Sigma}
	if cfg.Memory.Sigma == 0 {
		mem.kind = shapeFixed
	}
	return &OLAP{cfg: cfg, s: newSlots(cfg.PerWorker, cfg.Batches, cfg.Duration.dist(), mem, cfg.Arrivals, seed)}, nil
}

// Step implements Model.
func (o *OLAP) Step(now, dt time.Duration, rate float64, insts []Instance) {
	o.s.step(now, dt, rate, insts)
}

// Signals implements Model.
func (o *OLAP) Signals() map[string]float64 { return newSignals(o) }

// olapSignals are the OLAP model's signals, in SignalReader's order.
var olapSignals = []string{"arrival_rate", "running", "queued", "memory_util", "busy"}

// SignalNames implements SignalReader.
func (o *OLAP) SignalNames() []string { return olapSignals }

// Signal implements SignalReader.
func (o *OLAP) Signal(i int) float64 {
	switch i {
	case 0:
		return o.s.rate
	case 1:
		return o.s.work.InFlight
	case 2:
		return o.s.work.Queued
	case 3:
		if o.s.nServing == 0 {
			return 0
		}
		return o.s.memUsed / (float64(o.s.nServing) * o.cfg.WorkerGiB)
	default:
		return o.s.busyFraction()
	}
}

// Busy implements Model.
func (o *OLAP) Busy(id string) bool { return o.s.busy(id) }

// Violating implements Model.
func (o *OLAP) Violating() bool { return o.s.age() >= o.cfg.MaxWait.D().Seconds() }

// Work implements Model.
func (o *OLAP) Work() Work { return o.s.work }

// Stopped implements Model.
func (o *OLAP) Stopped(id string) { o.s.stopped(id) }

// Demand implements Model, as Queue's: an M/G/(c·k) queue.
func (o *OLAP) Demand(rate float64) int {
	return slotDemand(rate, o.s.dur, o.cfg.PerWorker, o.cfg.MaxWait.D().Seconds(), o.cfg.Tail)
}

// FullSpeed implements Throttleable: queries per second.
func (o *OLAP) FullSpeed(dt time.Duration, rate float64, insts []Instance) float64 {
	return o.s.fullSpeed(dt, rate, insts)
}

// SetSpeed implements Throttleable.
func (o *OLAP) SetSpeed(f float64) { o.s.speed = f }
