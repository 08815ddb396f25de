package load

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Plan says how to replay the trace. Zero fields take their defaults.
type Plan struct {
	// Duration is the wall time the whole trace is compressed into.
	// Default 3m.
	Duration time.Duration
	// PeakJobsPerSec is the arrival rate the trace's peak maps to; every
	// other rate scales with it. Default 40.
	PeakJobsPerSec float64
	// ServiceMean is the mean of the jobs' exponential service times, which
	// are capped at 5× it. Default 400ms.
	ServiceMean time.Duration
	// Seed makes the schedule; the same seed gives the same jobs. 0 is a
	// seed like any other.
	Seed int64
}

// MaxJobs bounds how many jobs a valid plan can schedule, roughly.
const MaxJobs = 10_000_000

// serviceCap is how many means a service time may reach.
const serviceCap = 5

// WithDefaults returns p with every zero field set to its default.
func (p Plan) WithDefaults() Plan {
	if p.Duration == 0 {
		p.Duration = 3 * time.Minute
	}
	if p.PeakJobsPerSec == 0 {
		p.PeakJobsPerSec = 40
	}
	if p.ServiceMean == 0 {
		p.ServiceMean = 400 * time.Millisecond
	}
	return p
}

// Validate reports every problem with p at once; defaults apply first.
func (p Plan) Validate() error {
	p = p.WithDefaults()
	var errs []error
	if p.Duration < time.Second {
		errs = append(errs, fmt.Errorf("duration: %s is shorter than 1s", p.Duration))
	}
	if p.PeakJobsPerSec < 0 || math.IsNaN(p.PeakJobsPerSec) || math.IsInf(p.PeakJobsPerSec, 0) {
		errs = append(errs, fmt.Errorf("peak_jobs_per_sec: %v must be a positive number", p.PeakJobsPerSec))
	} else if n := p.PeakJobsPerSec * p.Duration.Seconds(); n > MaxJobs {
		errs = append(errs, fmt.Errorf("peak_jobs_per_sec: %v for %s could make %.0f jobs; at most %d", p.PeakJobsPerSec, p.Duration, n, MaxJobs))
	}
	if p.ServiceMean < time.Millisecond {
		errs = append(errs, fmt.Errorf("service_mean: %s is shorter than 1ms", p.ServiceMean))
	}
	return errors.Join(errs...)
}

// Rates returns the trace as the plan replays it: T in seconds from the
// start of the run (the whole trace fits in Duration) and Rate in jobs per
// second (the trace's peak is PeakJobsPerSec).
func Rates(p Plan) []Point {
	p = p.WithDefaults()
	pts := Trace()
	peak := slices.MaxFunc(pts, byRate).Rate
	squeeze := p.Duration.Seconds() / span(pts)
	for i := range pts {
		pts[i].T *= squeeze
		pts[i].Rate *= p.PeakJobsPerSec / peak
	}
	return pts
}

// FixedFleet is how many workers a fleet sized once for the peak needs to
// keep the given share of them busy: the peak's jobs in service at once
// (PeakJobsPerSec × ServiceMean, by Little's law) divided by utilization,
// rounded up. It assumes workers of speed 1 doing one job at a time.
func FixedFleet(p Plan, utilization float64) int {
	p = p.WithDefaults()
	busy := p.PeakJobsPerSec * p.ServiceMean.Seconds()
	// 40 × 0.4 is 16.000000000000004 in floating point; do not let that be 17.
	return int(math.Ceil(busy/utilization - 1e-9))
}
