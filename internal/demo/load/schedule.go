package load

import (
	"math"
	"math/rand/v2"
	"time"
)

// Job is one scheduled submission.
type Job struct {
	// Offset is when to submit it, from the start of the run.
	Offset time.Duration
	// Service is its service time, in whole milliseconds, at least 1ms.
	Service time.Duration
}

// Schedule returns every job of the plan, in submission order: arrivals
// are a Poisson process whose rate follows Rates(p), service times are
// exponential with mean ServiceMean, capped at 5× it. The same plan gives
// the same jobs; arrivals and service times come from separate streams of
// the seed, so changing ServiceMean does not move arrivals. Schedule
// panics if p is not valid (see Validate).
func Schedule(p Plan) []Job {
	if err := p.Validate(); err != nil {
		panic("load.Schedule: " + err.Error())
	}
	p = p.WithDefaults()
	rates := Rates(p)
	end := p.Duration.Seconds()
	arrivals := rand.New(rand.NewPCG(uint64(p.Seed), 1))
	services := rand.New(rand.NewPCG(uint64(p.Seed), 2))

	var jobs []Job
	t, seg := 0.0, 0
	for {
		// Invert the integrated rate: walk an Exp(1) amount of it forward
		// through the piecewise-constant segments.
		need := arrivals.ExpFloat64()
		for seg < len(rates) {
			segEnd := end
			if seg+1 < len(rates) {
				segEnd = rates[seg+1].T
			}
			rate := rates[seg].Rate
			if have := rate * (segEnd - t); rate > 0 && need <= have {
				t += need / rate
				break
			} else {
				need -= have
			}
			t, seg = segEnd, seg+1
		}
		if seg >= len(rates) || t >= end {
			return jobs
		}
		jobs = append(jobs, Job{
			Offset:  time.Duration(t * float64(time.Second)),
			Service: serviceTime(services, p.ServiceMean),
		})
	}
}

// serviceTime draws an exponential service time with the given mean, capped
// at serviceCap means, rounded to the millisecond the queue speaks in.
func serviceTime(rng *rand.Rand, mean time.Duration) time.Duration {
	meanMS := float64(mean) / float64(time.Millisecond)
	ms := min(math.Round(rng.ExpFloat64()*meanMS), math.Floor(serviceCap*meanMS))
	return time.Duration(max(1, ms)) * time.Millisecond
}
