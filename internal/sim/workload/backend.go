package workload

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// BackendConfig is a shared downstream with a request-rate limit (seed 002:
// S3 answers 503 SlowDown past about 3,500 writes or 5,500 reads per second
// per prefix).
type BackendConfig struct {
	Limit        float64 `yaml:"limit" default:"3500" doc:"Calls per second the backend accepts."`
	CallsPerUnit float64 `yaml:"calls_per_unit" default:"1" doc:"Backend calls one unit of work makes (a request, a job, a record, a query), spread over its service time."`
	Retries      int     `yaml:"retries" default:"5" doc:"Retries of a throttled call (the SDK's backoff with jitter); a call that runs out of them starts over later."`
	Collapse     float64 `yaml:"collapse" default:"0.5" doc:"How fast accepted calls fall as attempts pass the limit: accepted = limit / (1 + collapse·(attempts/limit − 1)); 0: they stay at the limit."`
}

// Validate checks the config.
func (c *BackendConfig) Validate() error {
	var errs []error
	if !(c.Limit > 0 && c.Limit < 1e15) {
		errs = append(errs, config.Problem("limit", "must be > 0, not %g", c.Limit))
	}
	if !(c.CallsPerUnit > 0 && c.CallsPerUnit < 1e9) {
		errs = append(errs, config.Problem("calls_per_unit", "must be > 0, not %g", c.CallsPerUnit))
	}
	if c.Retries < 0 || c.Retries > 100 {
		errs = append(errs, config.Problem("retries", "must be 0 to 100, not %d", c.Retries))
	}
	if !(c.Collapse >= 0 && c.Collapse <= 100) {
		errs = append(errs, config.Problem("collapse", "must be 0 to 100, not %g", c.Collapse))
	}
	return errors.Join(errs...)
}

// Throttleable is a model whose work calls a backend: it says how fast it
// would work and is told how fast it may. Every model here is one.
type Throttleable interface {
	Model
	// FullSpeed is the units of work per second the model would finish in
	// the next Step(now, dt, rate, insts) if nothing slowed it.
	FullSpeed(dt time.Duration, rate float64, insts []Instance) float64
	// SetSpeed sets the fraction of full speed, in (0, 1], its work
	// progresses at in the next Steps.
	SetSpeed(f float64)
	SignalReader
}

var _ SignalReader = (*Backend)(nil)

// Backend wraps a model whose work calls a rate-limited backend.
//
// Each step, the work the model would finish at full speed (FullSpeed, u
// units/s) needs D = u·calls_per_unit calls/s. A call throttled with
// probability p is retried up to `retries` times, so the attempts are A =
// D·(1 + p + … + p^retries). Up to the limit L every attempt is accepted;
// past it the backend accepts S = L / (1 + collapse·(A/L − 1)) — fewer as
// attempts grow: rejecting costs it too — and p = 1 − S/A. p is the fixed
// point of these (found by bisection). The model's work then progresses at
// S/D of full speed (capped at 1): a job whose call was throttled waits,
// so it holds its slot longer, so jobs pile up on the instances, so more
// instances make more attempts and fewer get through. Adding instances
// past the limit makes throughput and latency worse, as seed 002 warns.
//
// With queue and olap the slowdown stretches every running job's remaining
// time (their progress clock runs at S/D); with service and streaming it
// lowers each instance's capacity.
//
// Signals: the model's, plus throttled_rate, the rejected attempts per
// second (503s), which a guard reads to stop adding capacity.
type Backend struct {
	cfg       BackendConfig
	m         Throttleable
	throttled float64
	names     []string
}

// NewBackend wraps m.
func NewBackend(cfg BackendConfig, m Throttleable) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names := append(slices.Clip(m.SignalNames()), "throttled_rate")
	return &Backend{cfg: cfg, m: m, names: names}, nil
}

// Step implements Model.
func (b *Backend) Step(now, dt time.Duration, rate float64, insts []Instance) {
	need := b.m.FullSpeed(dt, rate, insts) * b.cfg.CallsPerUnit
	accepted, attempts := b.settle(need)
	b.throttled = attempts - accepted
	f := 1.0
	if need > 0 && accepted < need {
		f = max(accepted/need, 1e-9)
	}
	b.m.SetSpeed(f)
	b.m.Step(now, dt, rate, insts)
}

// settle returns the accepted calls and the attempts per second when the
// work needs `need` calls per second.
func (b *Backend) settle(need float64) (accepted, attempts float64) {
	if need <= b.cfg.Limit {
		return need, need
	}
	n := float64(b.cfg.Retries)
	attemptsAt := func(p float64) float64 {
		if p >= 1 {
			return need * (n + 1)
		}
		return need * (1 - math.Pow(p, n+1)) / (1 - p)
	}
	// h(p) = 1 − S(A(p))/A(p) − p: h(0) ≥ 0 > h(1).
	lo, hi := 0.0, 1.0
	for range 50 {
		p := (lo + hi) / 2
		a := attemptsAt(p)
		if 1-b.accept(a)/a-p > 0 {
			lo = p
		} else {
			hi = p
		}
	}
	attempts = attemptsAt(lo)
	return b.accept(attempts), attempts
}

func (b *Backend) accept(a float64) float64 {
	l := b.cfg.Limit
	if a <= l {
		return a
	}
	return l / (1 + b.cfg.Collapse*(a/l-1))
}

// Signals implements Model.
func (b *Backend) Signals() map[string]float64 { return newSignals(b) }

// SignalNames implements SignalReader: the model's, then throttled_rate.
func (b *Backend) SignalNames() []string { return b.names }

// Signal implements SignalReader.
func (b *Backend) Signal(i int) float64 {
	if i == len(b.names)-1 {
		return b.throttled
	}
	return b.m.Signal(i)
}

// Busy implements Model.
func (b *Backend) Busy(id string) bool { return b.m.Busy(id) }

// Violating implements Model.
func (b *Backend) Violating() bool { return b.m.Violating() }

// Work implements Model.
func (b *Backend) Work() Work { return b.m.Work() }

// Stopped implements Model.
func (b *Backend) Stopped(id string) { b.m.Stopped(id) }

// Demand implements Model: the model's demand at the rate, or at the most
// the backend lets through (limit / calls_per_unit) if that is less:
// instances beyond it only add throttling.
func (b *Backend) Demand(rate float64) int {
	return b.m.Demand(min(rate, b.cfg.Limit/b.cfg.CallsPerUnit))
}
