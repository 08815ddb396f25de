package fleet

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Retry pacing for drain requests and terminations that fail. Launches use
// the group's lifecycle.launch.backoff instead.
const (
	retryInitial = time.Second
	retryMax     = time.Minute
)

// jitter says how a retry delay is randomised.
type jitter int

const (
	// fullJitter waits a uniform time in [0, d]: retries of many instances
	// failing at once spread out instead of hitting a service together.
	fullJitter jitter = iota
	// halfJitter waits a uniform time in [d/2, d]: a delay is never much
	// shorter than configured (launch backoff, as documented).
	halfJitter
)

// retry paces the retries of one failing action: exponential delays from
// backoff/v5 (doubling from initial up to max), randomised with the
// reconciler's seeded rand. backoff/v5 draws its own jitter from the global
// math/rand/v2 source, which cannot be seeded, so its RandomizationFactor is
// 0 and the jitter is applied here.
type retry struct {
	b        *backoff.ExponentialBackOff
	jitter   jitter
	failures int
	last     error
	next     time.Time
}

func newRetry(initial, max time.Duration, j jitter) *retry {
	b := &backoff.ExponentialBackOff{
		InitialInterval: initial,
		Multiplier:      2,
		MaxInterval:     max,
	}
	b.Reset()
	return &retry{b: b, jitter: j}
}

// fail records a failure at now and returns the delay before the next try.
func (r *retry) fail(now time.Time, err error, rnd *rand.Rand) time.Duration {
	r.failures++
	r.last = err
	d := max(r.b.NextBackOff(), 0)
	switch r.jitter {
	case fullJitter:
		d = time.Duration(rnd.Int64N(int64(d) + 1))
	case halfJitter:
		d = d/2 + time.Duration(rnd.Int64N(int64(d-d/2)+1))
	}
	r.next = now.Add(d)
	return d
}

// due reports whether the next try may go out at now; a nil retry (nothing
// failed) always may.
func (r *retry) due(now time.Time) bool { return r == nil || !now.Before(r.next) }

// times spells a failure count: "once", "3 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
