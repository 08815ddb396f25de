package worker

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// Config is what Run needs. Queue, ID and Listen (or Listener) are required;
// the rest have defaults.
type Config struct {
	Queue  string  // the queue's base URL, e.g. http://127.0.0.1:7070
	ID     string  // this worker's id, as the queue knows it
	Listen string  // 127.0.0.1:PORT for /healthz, /metrics and /v1/busy
	Speed  float64 // a job's service time is divided by it; 0 means 1

	// Drain, once closed, makes Run stop taking jobs, finish and report the
	// one in hand, and return nil. `ebb worker` closes it on SIGUSR1 or
	// SIGTERM. Nil means never.
	Drain <-chan struct{}

	// Listener, if set, is served instead of listening on Listen (tests
	// listen on port 0 and read the address back).
	Listener net.Listener

	Logger     *slog.Logger // default: discard
	Clock      clock.Clock  // default: the wall clock
	HTTPClient *http.Client // default: a plain client; calls are bounded by ctx

	Poll           time.Duration // long-poll wait of each take; default 2s, at most queue.MaxWait
	RequestTimeout time.Duration // bound on each call beyond its long poll; default 5s
	BackoffMin     time.Duration // first retry delay; default 100ms
	BackoffMax     time.Duration // retry delays never exceed it; default 5s
	Seed           int64         // seeds the jitter; 0 derives a seed from ID
}

// withDefaults fills in every optional field left zero.
func (c Config) withDefaults() Config {
	if c.Speed == 0 {
		c.Speed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Poll == 0 {
		c.Poll = 2 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.Seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(c.ID))
		c.Seed = int64(h.Sum64() >> 1)
	}
	return c
}

// Validate reports every problem with c at once; defaults apply first, so
// zero optional fields are fine.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if u, err := url.Parse(c.Queue); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("queue: %q is not an http:// or https:// base URL", c.Queue))
	}
	if err := queue.CheckWorkerID(c.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
		}
	}
	if c.Speed < 0 || math.IsNaN(c.Speed) || math.IsInf(c.Speed, 0) {
		errs = append(errs, fmt.Errorf("speed: %v must be a positive number", c.Speed))
	}
	if c.Poll < 0 || c.Poll > queue.MaxWait {
		errs = append(errs, fmt.Errorf("poll: %s is not between 0s and %s", c.Poll, queue.MaxWait))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request_timeout: %s must be positive", c.RequestTimeout))
	}
	if c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff: want 0 < min (%s) <= max (%s)", c.BackoffMin, c.BackoffMax))
	}
	return errors.Join(errs...)
}

// serviceTime is how long this worker works on a job of serviceMS.
func (c Config) serviceTime(serviceMS int64) time.Duration {
	return time.Duration(float64(serviceMS) * float64(time.Millisecond) / c.Speed)
}
