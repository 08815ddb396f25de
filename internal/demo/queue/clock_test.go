package queue

import (
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// stepClock is clock.Fake reporting each sleep on slept, once the sleeper
// is registered, so a test can Advance without polling.
type stepClock struct {
	*clock.Fake
	slept <-chan time.Duration
}

func newStepClock() *stepClock {
	f := clock.NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	return &stepClock{Fake: f, slept: f.Notify(100)}
}
