package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// changes numbers what a watcher (the dashboard's event stream) may want to
// redraw: each group's latest change gets the next sequence number, so a
// watcher asks "what changed since N" however many changes it slept
// through, and nothing is queued per watcher. Its lock is its own, so a
// change may be marked with or without d.mu held.
type changes struct {
	mu   sync.Mutex
	seq  uint64
	at   map[string]uint64
	all  uint64        // the last change of every group at once (a reload)
	wait chan struct{} // closed at the next change; nil while no one waits
}

func newChanges() *changes { return &changes{at: map[string]uint64{}} }

// mark records a change of group; "" marks every group.
func (c *changes) mark(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if group == "" {
		c.all = c.seq
		clear(c.at) // every group is newer than its own mark now
	} else {
		c.at[group] = c.seq
	}
	if c.wait != nil {
		close(c.wait)
		c.wait = nil
	}
}

// Changes says which groups changed after since: their names (sorted) and
// whether every group did (a new configuration), the sequence number to ask
// from next time, and a channel closed at the next change.
func (c *changes) since(since uint64) (Changed, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Changed{Seq: c.seq, All: since < c.all}
	if !out.All {
		for g, n := range c.at {
			if n > since {
				out.Groups = append(out.Groups, g)
			}
		}
		slices.Sort(out.Groups)
	}
	if c.wait == nil {
		c.wait = make(chan struct{})
	}
	return out, c.wait
}

// Changed is what changed since a sequence number.
type Changed struct {
	Seq    uint64   `json:"seq"`
	All    bool     `json:"all,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Changes reports the groups whose view changed after since (0: none yet
// asked; the answer's Seq is where to start) and a channel closed at the
// next change. A group changes when its decision does something a reader
// sees (capacity, inputs, the binding limit), its fleet's counts or
// conditions move, or an operator acts on it.
func (d *Daemon) Changes(since uint64) (Changed, <-chan struct{}) {
	return d.changed.since(since)
}

// capacityKeep bounds each group's capacity history in memory: points are
// kept only when a count changes, so this is 720 changes, hours of a busy
// group and days of a quiet one.
const capacityKeep = 720

// CapacityPoint is a group's capacity at a time: what was desired and how
// many instances were in each lifecycle state from then on.
type CapacityPoint struct {
	T         time.Time `json:"t"`
	Desired   int       `json:"desired"`
	Ready     int       `json:"ready"`
	Launching int       `json:"launching"`
	Draining  int       `json:"draining"`
}

func (p CapacityPoint) same(q CapacityPoint) bool {
	p.T = q.T
	return p == q
}

// noteCapacity appends the group's capacity now to its history when it
// differs from the last point kept, and marks the group changed. d.mu held.
func (d *Daemon) noteCapacity(name string, now time.Time) {
	g, ok := d.groups[name]
	if !ok {
		return
	}
	p := capacityOf(g, d.eng.States[g.index].Desired, now)
	h := d.capacity[name]
	if n := len(h); n > 0 && h[n-1].same(p) {
		return
	}
	if len(h) >= capacityKeep {
		h = slices.Delete(h, 0, len(h)-capacityKeep+1)
	}
	d.capacity[name] = append(h, p)
	d.changed.mark(name)
}

// capacityOf is a group's capacity point from its engine's desired count and
// its fleet's last status.
func capacityOf(g *group, desired int, now time.Time) CapacityPoint {
	p := CapacityPoint{T: now, Desired: desired}
	if g.rec != nil {
		p.Ready, p.Launching, p.Draining = g.status.InService, g.status.Launching, g.status.Draining+g.status.Terminating
	}
	return p
}

// visiblyChanged reports whether a new decision differs from the previous
// one in anything the dashboard shows; a hold that repeats its outcome with
// the same inputs is not news.
func visiblyChanged(old model.Decision, seen bool, dec *model.Decision) bool {
	if !seen || old.Desired != dec.Desired || old.Current != dec.Current || old.Min != dec.Min || old.Max != dec.Max ||
		old.Decider != dec.Decider || !slices.Equal(old.Inputs, dec.Inputs) || len(old.Steps) != len(dec.Steps) {
		return true
	}
	ob, _ := old.Bound()
	nb, _ := dec.Bound()
	return ob != nb
}
