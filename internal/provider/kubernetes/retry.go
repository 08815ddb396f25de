package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cenkalti/backoff/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Retry pacing of one request that fails transiently.
const (
	// attempts bounds the tries of one request: the first and three
	// retries.
	attempts     = 4
	retryInitial = 200 * time.Millisecond
	retryMax     = 5 * time.Second
	// conflictTries bounds the read-modify-write rounds of a scale update
	// that keeps meeting someone else's write.
	conflictTries = 5
)

// call makes one request with f, each attempt bounded by the config's
// timeout, retrying transient failures (throttling, 5xx, a timeout, a
// refused or reset connection) at most attempts times in all, with
// exponential backoff and full jitter drawn from deps.Rand, never sooner
// than the server's Retry-After asks (capped at maxRetryAfter). The waits
// go through deps.Clock. A call whose ctx has ended makes no request.
func (p *Provider) call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	b := &backoff.ExponentialBackOff{InitialInterval: retryInitial, Multiplier: 2, MaxInterval: retryMax}
	b.Reset()
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		hint := &retryHint{}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, hintKey{}, hint), p.timeout)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if try >= attempts || !transient(ctx, err) {
			if try > 1 {
				return fmt.Errorf("%s (%d tries): %w", what, try, err)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		d := p.jitter(max(b.NextBackOff(), 0))
		d = max(d, hint.get())
		if p.log != nil {
			p.log.Debug("kubernetes request failed, retrying", "group", p.group, "request", what, "try", try, "delay", d, "err", err)
		}
		if serr := p.clock.Sleep(ctx, d); serr != nil {
			return fmt.Errorf("%s: %w (then %w)", what, err, serr)
		}
	}
}

// jitter draws a uniform delay in [0, d].
func (p *Provider) jitter(d time.Duration) time.Duration {
	p.randMu.Lock()
	defer p.randMu.Unlock()
	return time.Duration(p.rand.Int64N(int64(d) + 1))
}

// transient reports whether err is worth another try while ctx lives:
// the server throttled (429) or failed (5xx), or the attempt timed out or
// lost its connection.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 429 || code >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the attempt's own timeout: ctx is still alive
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		utilnet.IsHTTP2ConnectionLost(err)
}
