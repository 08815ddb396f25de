package daemon

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Follow runs a replica that does not lead (Options.Follow) until ctx
// ends: it decides nothing and touches no instance, but every tick it
// takes from the store (which follows the leader's writes) each group's
// desired capacity, engine memory and last decision, so its read API
// shows what the leader does. It reloads the config file as Run does.
func (d *Daemon) Follow(ctx context.Context) {
	defer d.closeSources()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.watchConfig(ctx, &wg) }()
	seen := ^uint64(0)
	for {
		// Read again only what the leader changed since: a follower of
		// 50,000 groups does not decode every one of them every tick.
		if v := d.st.Version(); v != seen {
			if d.refresh() {
				seen = v
			}
			if err := d.loadRegistry(); err != nil {
				d.opt.Log.Warn("read the registry the leader wrote", "err", err)
			}
		} else {
			d.ticked.Store(d.opt.Clock.Now().UnixNano())
		}
		if d.opt.Clock.Sleep(ctx, tick) != nil {
			break
		}
	}
	wg.Wait()
}

// refresh takes the groups' state from the store and reports whether it
// could.
func (d *Daemon) refresh() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.st.View(func(tx *store.Tx) error {
		for i, eg := range d.eng.Groups {
			gs, found, err := tx.GroupState(eg.Name)
			if err != nil {
				return err
			}
			if found && len(gs.Engine) > 0 {
				var m engine.Memory
				if err := json.Unmarshal(gs.Engine, &m); err == nil {
					eg.Restore(d.eng.States[i], m)
				}
			}
			entries, err := tx.Decisions(eg.Name, 1)
			if err != nil {
				return err
			}
			if len(entries) > 0 {
				var dec model.Decision
				if err := json.Unmarshal(entries[0].Decision, &dec); err == nil {
					// A follower's dashboard is live too.
					if old, seen := d.last[eg.Name]; visiblyChanged(old, seen, &dec) {
						d.changed.mark(eg.Name)
					}
					d.last[eg.Name] = dec
				}
			}
			d.noteCapacity(eg.Name, d.opt.Clock.Now())
		}
		return nil
	})
	if err != nil {
		d.opt.Log.Warn("read the state the leader wrote", "err", err)
		return false
	}
	d.ticked.Store(d.opt.Clock.Now().UnixNano())
	return true
}

// Leader says who leads the replicas sharing the store: this daemon,
// unless it follows.
func (d *Daemon) Leader() store.Leader {
	l := d.st.Leader()
	if l.Self && d.opt.Follow {
		// Won, but this daemon only follows: the leading one is not
		// serving yet.
		l.Self, l.Starting = false, true
	}
	return l
}
