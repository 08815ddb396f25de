package fleet

import (
	"fmt"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Spec is a group's lifecycle configuration, compiled.
type Spec struct {
	Group   string
	Zones   []string
	Protect bool

	readyProbe    probe
	launchTimeout time.Duration
	maxConcurrent int
	backoffMin    time.Duration
	backoffMax    time.Duration

	drain       drainAction
	busyProbe   probe
	heartbeat   time.Duration
	drainLimit  time.Duration
	abandonLate bool

	healthProbe    probe
	healthGrace    time.Duration
	healthFailures int

	selection string
}

// NewSpec compiles a group's lifecycle.
func NewSpec(g config.Group) (Spec, error) {
	l := g.Lifecycle
	s := Spec{
		Group:          g.Name,
		Protect:        l.Protect,
		launchTimeout:  l.Launch.Timeout.D(),
		maxConcurrent:  max(l.Launch.MaxConcurrent, 1),
		backoffMin:     l.Launch.Backoff.Initial.D(),
		backoffMax:     l.Launch.Backoff.Max.D(),
		heartbeat:      l.Drain.Heartbeat.D(),
		drainLimit:     l.Drain.Timeout.D(),
		abandonLate:    l.Drain.OnTimeout == "abandon",
		healthGrace:    l.Health.Grace.D(),
		healthFailures: max(l.Health.Failures, 1),
		selection:      l.Select,
	}
	if g.Provider.Local != nil {
		s.Zones = g.Provider.Local.Zones
	}
	var err error
	if s.readyProbe, err = newProbe("lifecycle.launch.ready", l.Launch.Ready); err != nil {
		return s, fmt.Errorf("group %s: %w", g.Name, err)
	}
	if s.busyProbe, err = newProbe("lifecycle.drain.busy", l.Drain.Busy); err != nil {
		return s, fmt.Errorf("group %s: %w", g.Name, err)
	}
	if s.healthProbe, err = newProbe("lifecycle.health.check", l.Health.Check); err != nil {
		return s, fmt.Errorf("group %s: %w", g.Name, err)
	}
	if s.drain, err = newDrainAction(l.Drain); err != nil {
		return s, fmt.Errorf("group %s: %w", g.Name, err)
	}
	if s.launchTimeout <= 0 {
		s.launchTimeout = 2 * time.Minute
	}
	if s.backoffMin <= 0 {
		s.backoffMin = 5 * time.Second
	}
	s.backoffMax = max(s.backoffMax, s.backoffMin)
	if s.heartbeat <= 0 {
		s.heartbeat = 10 * time.Second
	}
	if s.drainLimit <= 0 {
		s.drainLimit = time.Hour
	}
	return s, nil
}
