package awsconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Limits bounds the calls a provider makes to an AWS API. Provider kinds
// embed it inline next to AWS.
type Limits struct {
	Rate    float64         `yaml:"rate" default:"5" doc:"Calls per second this group's provider makes to the API at most, on average (AWS throttles an account's calls as a whole)."`
	Burst   int             `yaml:"burst" default:"10" doc:"Calls that may go at once above rate, after a quiet spell."`
	Timeout config.Duration `yaml:"timeout" default:"10s" doc:"How long one call may take."`
	Tries   int             `yaml:"tries" default:"5" doc:"Attempts of a call that is throttled or fails transiently (5xx, refused connection, timeout), with exponential backoff and full jitter between them."`
}

// Validate checks the limits.
func (l *Limits) Validate() error {
	var errs []error
	if l.Rate <= 0 || l.Rate > 1000 {
		errs = append(errs, config.Problem("rate", "must be > 0 and at most 1000, not %g", l.Rate))
	}
	if l.Burst < 1 || l.Burst > 1000 {
		errs = append(errs, config.Problem("burst", "must be 1 to 1000, not %d", l.Burst))
	}
	if l.Timeout.D() <= 0 {
		errs = append(errs, config.Problem("timeout", "must be > 0, not %s", l.Timeout))
	}
	if l.Tries < 1 || l.Tries > 10 {
		errs = append(errs, config.Problem("tries", "must be 1 to 10, not %d", l.Tries))
	}
	return errors.Join(errs...)
}

// Backoff bounds: the first retry waits up to backoffBase, each later one up
// to twice the previous bound, never above backoffMax.
const (
	backoffBase = 200 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// Longest is the most one call can take within l, retries and the waits
// between them included (not the rate limiter's wait): Tries attempts of
// Timeout each, and the longest backoff between each two.
func (l Limits) Longest() time.Duration {
	return time.Duration(l.Tries)*l.Timeout.D() + time.Duration(max(l.Tries-1, 0))*backoffMax
}

// Caller makes a provider's calls within its Limits: each waits for the
// client-side rate limiter, gets Timeout, and is retried while Transient,
// up to Tries attempts, sleeping a full-jitter backoff between them. All
// waits are on the injected clock and end with ctx. A Caller is safe for
// concurrent use.
type Caller struct {
	limits Limits
	clock  clock.Clock
	lim    *rate.Limiter

	mu   sync.Mutex
	rand *rand.Rand

	// OnCall, when set, is told of every attempt (tests count them).
	OnCall func(what string)
}

// NewCaller returns a Caller for l. A nil clock is the wall clock; a nil
// rnd is seeded from the group's name, so jitter stays reproducible.
func NewCaller(l Limits, c clock.Clock, rnd *rand.Rand, seed string) *Caller {
	if c == nil {
		c = clock.Real{}
	}
	if rnd == nil {
		var h uint64 = 14695981039346656037
		for i := range len(seed) {
			h = (h ^ uint64(seed[i])) * 1099511628211
		}
		rnd = rand.New(rand.NewPCG(h, 0))
	}
	return &Caller{limits: l, clock: c, lim: rate.NewLimiter(rate.Limit(l.Rate), l.Burst), rand: rnd}
}

// Do runs call under c's limits. what names the call in errors
// ("set desired capacity of web"); the last attempt's error is wrapped.
func Do[T any](ctx context.Context, c *Caller, what string, call func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = backoffBase, backoffMax, 2, 0
	for try := 1; ; try++ {
		if err := c.wait(ctx); err != nil {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		if c.OnCall != nil {
			c.OnCall(what)
		}
		actx, cancel := context.WithTimeout(ctx, c.limits.Timeout.D())
		out, err := call(actx)
		// A call that ran out of its own time (a hung server) is worth
		// another try; one whose caller gave up is not.
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return out, nil
		}
		if try >= c.limits.Tries || !(Transient(err) || timedOut) || ctx.Err() != nil {
			if try > 1 {
				return zero, fmt.Errorf("%s (%d tries): %w", what, try, err)
			}
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		// Full jitter: anywhere from nothing to the exponential bound.
		if serr := c.clock.Sleep(ctx, c.jitter(b.NextBackOff())); serr != nil {
			return zero, fmt.Errorf("%s: %w; no retry: %w", what, err, serr)
		}
	}
}

func (c *Caller) jitter(bound time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rand.Int64N(int64(bound) + 1))
}

// wait takes a token from the rate limiter, sleeping on the clock until
// it is due; an ended ctx gives the token back.
func (c *Caller) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := c.clock.Now()
	r := c.lim.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused the call")
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := c.clock.Sleep(ctx, d); err != nil {
			r.CancelAt(c.clock.Now())
			return fmt.Errorf("wait for the rate limit: %w", err)
		}
	}
	return nil
}
