// Package clock is ebb's only source of time. Everything that waits or reads
// the time takes a Clock, so tests step a Fake (or run in a synctest bubble)
// instead of sleeping.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fake is a clock that moves only when told to. Sleepers wake when Advance
// passes their deadline.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	notify  chan time.Duration
	instant bool
}

type waiter struct {
	at time.Time
	ch chan struct{}
}

// NewFake returns a Fake set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Sleep waits until the fake time reaches now+d, or ctx is done.
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	if d <= 0 {
		f.mu.Unlock()
		return ctx.Err()
	}
	w := waiter{at: f.now.Add(d), ch: make(chan struct{})}
	if f.instant {
		f.now = w.at
		close(w.ch)
	} else {
		f.waiters = append(f.waiters, w)
	}
	notify := f.notify
	f.mu.Unlock()
	if notify != nil {
		select {
		case notify <- d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Advance moves the clock forward by d and wakes every sleeper whose time
// has come.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	f.waiters = kept
}

// Notify makes every Sleep report its duration on the returned channel once
// the sleeper is registered (blocking when buffer reports are unread), so a
// test learns exactly when to Advance, and for how long the code slept.
func (f *Fake) Notify(buffer int) <-chan time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notify = make(chan time.Duration, buffer)
	return f.notify
}

// SetInstant makes Sleep return at once, moving the clock to the sleep's
// end: time passes only as fast as the code asks for it.
func (f *Fake) SetInstant(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instant = on
}

// Sleepers returns how many goroutines are waiting on the clock, so a test
// can wait for a loop to park before advancing it.
func (f *Fake) Sleepers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}
