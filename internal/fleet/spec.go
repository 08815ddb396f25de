package fleet

import (
	"fmt"
	"strings"
	"syscall"
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

	drain drainAction
	// stopGrace is set when the group has no drain action and no busy
	// probe: draining is then a graceful stop, SIGTERM and, once stopGrace
	// has passed, SIGKILL.
	stopGrace   time.Duration
	busyProbe   probe
	heartbeat   time.Duration
	drainLimit  time.Duration
	abandonLate bool

	healthProbe    probe
	healthGrace    time.Duration
	healthFailures int

	selection string

	// registryApp is the app the instances register under; "" when the
	// group uses no registry. registryRefresh is how long a drain waits
	// after taking an instance OUT_OF_SERVICE.
	registryApp     string
	registryRefresh time.Duration
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
	if rg := l.Registry; rg != nil {
		s.registryApp, s.registryRefresh = strings.ToUpper(rg.App), rg.Refresh.D()
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
	if !s.drain.set() && !s.busyProbe.set() {
		s.stopGrace = l.Drain.Grace.D()
		if s.stopGrace <= 0 {
			s.stopGrace = 30 * time.Second
		}
		s.drain = drainAction{signal: syscall.SIGTERM, timeout: s.drain.timeout}
	}
	return s, nil
}

// GracefulStop reports whether draining is a graceful stop (the group has
// no drain action and no busy probe), and if so how long ebb waits after
// SIGTERM before SIGKILL.
func (s Spec) GracefulStop() (time.Duration, bool) { return s.stopGrace, s.stopGrace > 0 }

// checkEvery is how often a draining instance is looked at.
func (s Spec) checkEvery() time.Duration {
	if s.stopGrace > 0 {
		return min(s.heartbeat, s.stopGrace)
	}
	return s.heartbeat
}
