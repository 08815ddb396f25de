package source

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Sample is one pushed value.
type Sample struct {
	Signal string
	T      time.Time
	V      float64
}

// Push holds values pushed through the API until the engine's next tick
// takes them. Only the newest value per signal is kept: the engine reads
// current values, not a stream.
type Push struct {
	mu     sync.Mutex
	latest map[string]map[string]Sample // group → signal → sample
}

// NewPush returns an empty buffer.
func NewPush() *Push { return &Push{latest: map[string]map[string]Sample{}} }

// AddMany records pushed values for many groups (group → signal → value),
// all taken at t, under one lock for the batch, not one per group. The
// caller has checked the signals (the daemon does, to name every bad
// one); a value that is not finite still refuses the whole batch.
func (p *Push) AddMany(t time.Time, values map[string]map[string]float64) error {
	for group, vals := range values {
		for name, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("group %s, signal %s: %v is not a finite number", group, name, v)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for group, vals := range values {
		p.keep(group, t, vals)
	}
	return nil
}

// keep stores values newer than what the group holds. p.mu held.
func (p *Push) keep(group string, t time.Time, values map[string]float64) {
	g := p.latest[group]
	if g == nil {
		g = make(map[string]Sample, len(values))
		p.latest[group] = g
	}
	for name, v := range values {
		if old, ok := g[name]; ok && t.Before(old.T) {
			continue
		}
		g[name] = Sample{Signal: name, T: t, V: v}
	}
}

// Take returns and forgets the group's pending values.
func (p *Push) Take(group string) []Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.latest[group]
	delete(p.latest, group)
	out := make([]Sample, 0, len(g))
	for _, s := range g {
		out = append(out, s)
	}
	return out
}
