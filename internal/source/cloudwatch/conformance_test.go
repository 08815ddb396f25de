package cloudwatch

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance puts each group's value as a datapoint of its queue's
// depth, one period after the group's previous one so the newest is read,
// inside the window the source reads (now−7m to now−2m, the clock held at
// now). The suite checks values only: a value's At, datapoint time +
// period + lag, is TestNewestDatapointInTheLaggedWindow's.
func TestConformance(t *testing.T) {
	s := newServer(t)
	c := conn(s.URL)
	puts := map[string]int{}
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, c, clock.NewFake(now)) },
		Set: func(t *testing.T, group string, v float64) {
			at := now.Add(-6*time.Minute + time.Duration(puts[group])*c.Period.D())
			if !at.Before(now.Add(-c.Lag.D())) {
				t.Fatalf("%s set %d times: no room left in the window", group, puts[group])
			}
			s.put(depthKey(group), at, v)
			puts[group]++
		},
		Query:  func(string) any { return depth() },
		Absent: sourcetest.NoValue, // no datapoint in the window
	})
}
