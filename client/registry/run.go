package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// wallClock is the default Clock. It is the only place in the package
// that reads the time or waits.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run keeps the lease and the cache until ctx is done or Close is called:
// it registers the instance (if Options.Instance is set) and refreshes the
// cache at once, then renews every RenewalInterval and refreshes every
// FetchInterval, each step bounded by Options.Timeout per registry server.
// A failed step is logged, kept for Err, and tried again at its next
// interval (a failed registration by the next renewal); it never stops
// Run, and the cache keeps serving. Run returns ctx's error, or nil after
// Close. Only one Run may run at a time.
func (c *Client) Run(ctx context.Context) error {
	c.runMu.Lock()
	switch {
	case c.closed:
		c.runMu.Unlock()
		return fmt.Errorf("run: %w", ErrClosed)
	case c.runDone != nil:
		c.runMu.Unlock()
		return errors.New("run: already running")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	c.stopRun, c.runDone = stop, done
	c.runMu.Unlock()
	defer func() {
		stop()
		c.runMu.Lock()
		c.stopRun, c.runDone = nil, nil
		c.runMu.Unlock()
		close(done)
	}()

	refresh := func(ctx context.Context) error {
		_, err := c.Refresh(ctx)
		return err
	}
	// Register first, so that the first fetch sees this instance too.
	var wg sync.WaitGroup
	if c.opts.Instance != nil {
		c.mu.Lock()
		c.registering = true // Renew registers while the registry does not hold the instance
		c.mu.Unlock()
		c.step(runCtx, "renew lease", c.Renew)
		wg.Go(func() { c.every(runCtx, c.opts.RenewalInterval, "renew lease", c.Renew) })
	}
	c.step(runCtx, "refresh registry cache", refresh)
	wg.Go(func() { c.every(runCtx, c.opts.FetchInterval, "refresh registry cache", refresh) })
	wg.Wait()
	return ctx.Err()
}

// every runs step every interval until ctx is done.
func (c *Client) every(ctx context.Context, interval time.Duration, what string, step func(context.Context) error) {
	for c.clock.Sleep(ctx, interval) == nil {
		c.step(ctx, what, step)
	}
}

// step runs one step of Run, logging its failure: Err keeps it for callers.
func (c *Client) step(ctx context.Context, what string, step func(context.Context) error) {
	if err := step(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("registry client step failed, trying again later", "step", what, "err", err)
	}
}

// Close stops Run (waiting for it to return) and cancels the lease, so
// the registry drops the instance at once rather than after the lease
// expires. The cache stays readable. Close is bounded by ctx; calling it
// again does nothing.
func (c *Client) Close(ctx context.Context) error {
	c.runMu.Lock()
	if c.closed {
		c.runMu.Unlock()
		return nil
	}
	c.closed = true
	stop, done := c.stopRun, c.runDone
	c.runMu.Unlock()
	if stop != nil {
		stop()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("close: wait for run: %w", ctx.Err())
		}
	}
	if c.opts.Instance == nil {
		return nil
	}
	if err := c.Deregister(ctx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
