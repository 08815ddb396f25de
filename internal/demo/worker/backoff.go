package worker

import (
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential delay with "equal jitter": the n-th delay
// in a row (from 0) is drawn uniformly from [d/2, d] with
// d = min(max, min·2ⁿ), so a fleet whose queue came back does not return in
// lockstep, yet no delay is shorter than half its step.
type backoff struct {
	min, max time.Duration
	rng      *rand.Rand
	failures int // in a row
}

func newBackoff(lo, hi time.Duration, seed int64) *backoff {
	return &backoff{min: lo, max: hi, rng: rand.New(rand.NewPCG(uint64(seed), 0x65626277))} // "ebbw"
}

// next returns the delay before the next retry and counts a failure.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.failures && d < b.max; i++ {
		if d > b.max/2 {
			d = b.max
			break
		}
		d *= 2
	}
	d = min(d, b.max)
	b.failures++
	half := d / 2
	return half + time.Duration(b.rng.Int64N(int64(d-half)+1))
}

// reset starts over after a success.
func (b *backoff) reset() { b.failures = 0 }
