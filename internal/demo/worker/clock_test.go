package worker

import (
	"context"
	"sync"
	"time"
)

// stepClock is a fake clock that tells the test each time something starts
// sleeping on it, once the sleeper is registered, so the test can Advance
// without polling. An instant stepClock wakes every sleeper at once.
type stepClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []stepWaiter
	slept   chan time.Duration
	instant bool
}

type stepWaiter struct {
	at time.Time
	ch chan struct{}
}

func newStepClock() *stepClock {
	return &stepClock{now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), slept: make(chan time.Duration, 100)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	w := stepWaiter{at: c.now.Add(d), ch: make(chan struct{})}
	if c.instant {
		c.now = w.at
		close(w.ch)
	} else {
		c.waiters = append(c.waiters, w)
	}
	c.mu.Unlock()
	select {
	case c.slept <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		close(w.ch)
	}
	c.waiters = kept
}
