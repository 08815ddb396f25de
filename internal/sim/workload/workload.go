package workload

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Instance is one instance as the model sees it.
type Instance struct {
	ID       string
	Serving  bool // in service: takes new work
	Draining bool // finishing its work, takes none
}

// Model is a workload: it turns arrivals into work on the instances and
// reports what policies read.
type Model interface {
	// Step advances the model by dt (the driver's step, e.g. 1s) at arrival
	// rate `rate` (per second) with the instances as they are now.
	Step(now time.Duration, dt time.Duration, rate float64, insts []Instance)
	// Signals are the values policies read, by name (documented per model),
	// as of the last Step.
	Signals() map[string]float64
	// Busy reports whether an instance still holds work (a draining
	// instance is stopped only once it is not busy).
	Busy(id string) bool
	// Violating reports whether the SLO is violated now (after the last
	// Step).
	Violating() bool
	// Demand is the number of serving instances the model needs at `rate`
	// to meet its SLO in steady state (for the measures and the oracle). It
	// depends on rate alone: a driver may keep it while the rate holds.
	Demand(rate float64) int
	// Work accounts for every unit of work: Submitted == Completed +
	// InFlight + Queued + Lost at every step.
	Work() Work
	// Stopped tells the model an instance is gone (terminated); any work it
	// still held is Lost.
	Stopped(id string)
}

// Work counts units of work (requests, jobs, records, queries) since the
// model was made.
type Work struct{ Submitted, Completed, InFlight, Queued, Lost float64 }

// Kinds are the workload kinds New makes, as `ebb simulate --workload` names
// them.
var Kinds = []string{"service", "queue", "streaming", "olap"}

// Config chooses one workload kind and, optionally, a shared backend in
// front of which the workload's work calls: the value under a simulation's
// `workload` key.
type Config struct {
	Service   *ServiceConfig   `yaml:"service" doc:"A request/response service (M/M/c)."`
	Queue     *QueueConfig     `yaml:"queue" doc:"Queue workers taking jobs k at a time."`
	Streaming *StreamingConfig `yaml:"streaming" doc:"A streaming job that restarts on every rescale."`
	OLAP      *OLAPConfig      `yaml:"olap" doc:"OLAP workers running heavy-tailed queries."`
	Backend   *BackendConfig   `yaml:"backend" doc:"A rate-limited shared backend (S3-style 503 SlowDown) the work calls."`
}

// Validate checks that exactly one kind is set and every part is valid.
func (c *Config) Validate() error {
	var errs []error
	n := 0
	if c.Service != nil {
		n++
		errs = append(errs, config.Under("service", c.Service.Validate()))
	}
	if c.Queue != nil {
		n++
		errs = append(errs, config.Under("queue", c.Queue.Validate()))
	}
	if c.Streaming != nil {
		n++
		errs = append(errs, config.Under("streaming", c.Streaming.Validate()))
	}
	if c.OLAP != nil {
		n++
		errs = append(errs, config.Under("olap", c.OLAP.Validate()))
	}
	if n != 1 {
		errs = append(errs, config.Problem("", "exactly one of service, queue, streaming or olap, not %d", n))
	}
	if c.Backend != nil {
		errs = append(errs, config.Under("backend", c.Backend.Validate()))
	}
	return errors.Join(errs...)
}

// Defaults returns kind's config with every key at its default (as written
// empty), for `--workload KIND` without a config.
func Defaults(kind string) (Config, error) {
	var c Config
	var err error
	switch kind {
	case "service":
		c.Service, err = defaults[ServiceConfig]()
	case "queue":
		c.Queue, err = defaults[QueueConfig]()
	case "streaming":
		c.Streaming, err = defaults[StreamingConfig]()
	case "olap":
		c.OLAP, err = defaults[OLAPConfig]()
	default:
		return c, fmt.Errorf("workload %q: must be one of service, queue, streaming or olap", kind)
	}
	return c, err
}

// DefaultBackend returns the backend config at its defaults.
func DefaultBackend() (*BackendConfig, error) { return defaults[BackendConfig]() }

func defaults[T any]() (*T, error) {
	v, err := config.Defaults((*T)(nil))
	if err != nil {
		return nil, err
	}
	return v.(*T), nil
}

// New makes the model cfg describes; seed drives every random draw, so two
// models made with the same config and seed and stepped alike are equal.
func New(cfg Config, seed uint64) (Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var m Throttleable
	var err error
	switch {
	case cfg.Service != nil:
		m, err = NewService(*cfg.Service)
	case cfg.Queue != nil:
		m, err = NewQueue(*cfg.Queue, seed)
	case cfg.Streaming != nil:
		m, err = NewStreaming(*cfg.Streaming)
	default:
		m, err = NewOLAP(*cfg.OLAP, seed)
	}
	if err != nil || cfg.Backend == nil {
		return m, err
	}
	return NewBackend(*cfg.Backend, m)
}

// sanitize makes a rate that is not a finite number ≥ 0 count as 0: the
// driver checks its traces, and a model never turns one into NaN.
func sanitize(rate float64) float64 {
	if rate > 0 && !math.IsInf(rate, 1) {
		return rate
	}
	return 0
}

// seconds converts a duration to float seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }
