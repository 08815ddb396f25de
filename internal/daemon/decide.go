package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// tick is the decision loop's resolution; each group is evaluated on its
// own interval, on the first tick at or after it is due.
const tick = time.Second

// stuckAfter is how long the decision loop may go without finishing a tick
// before /readyz reports it stuck.
const stuckAfter = 30 * time.Second

func (d *Daemon) decideLoop(ctx context.Context, errc <-chan error) error {
	for {
		d.decide(ctx)
		select {
		case err := <-errc:
			return err
		default:
		}
		if d.opt.Clock.Sleep(ctx, tick) != nil {
			return nil
		}
	}
}

// decide runs one tick. The groups due within the next tick whose signals
// sources read have their reads started together, a tick before they are
// due: each source gets every read of those groups in one batch (one
// Prometheus query for all groups sharing it), bounded by the shortest
// interval among them. A due group is decided once every source it reads
// from has answered, so a hanging backend holds up only the groups reading
// from it, which then decide with what they got (the missing-data rules)
// at the first tick after their reads end. Pushed values are taken at
// decision time. Every decision of the tick is recorded in few store
// transactions.
func (d *Daemon) decide(ctx context.Context) {
	start := d.opt.Clock.Now()
	now := start
	d.mu.Lock()
	eng := d.eng
	var due []int
	for i, eg := range eng.Groups {
		g := d.groups[eg.Name]
		if len(g.signals) == 0 {
			continue
		}
		if r := d.reads[eg.Name]; r != nil {
			if r.eng == eng || !r.finished() {
				continue
			}
			delete(d.reads, eg.Name) // read for a replaced engine: start over
		}
		if eng.Next(i).Sub(now) > tick {
			continue
		}
		due = append(due, i)
	}
	if len(due) > 0 {
		d.startRound(ctx, now, eng, due)
	}
	ready, err := d.readyCounts(eng, now)
	if err != nil {
		d.opt.Log.Error("read instance counts", "err", err)
	}
	decisions := eng.StepReady(now, func(i int) (engine.Observation, bool) {
		eg := eng.Groups[i]
		var obs engine.Observation
		if len(d.groups[eg.Name].signals) > 0 {
			r := d.reads[eg.Name]
			if r == nil || r.eng != eng || !r.finished() {
				return obs, false
			}
			var errs map[string]error
			obs, errs = r.observation(eg, now)
			d.noteReadErrors(eg.Name, errs)
			delete(d.reads, eg.Name)
		}
		obs.Ready = ready[eg.Name]
		for _, s := range d.push.Take(eg.Name) {
			if j, ok := eg.SignalIndex(s.Signal); ok {
				obs.Samples = append(obs.Samples, engine.Sample{Signal: j, T: s.T, V: s.V})
			}
		}
		return obs, true
	})
	rows := d.prepare(now, eng, decisions)
	d.mu.Unlock()
	// Written without d.mu: the API answers while the tick's writes go on.
	d.write(now, rows)
	end := d.opt.Clock.Now()
	d.ticked.Store(end.UnixNano())
	d.metrics.tick(end.Sub(start))
}

// readyCounts counts the instances in service of every group due at now.
// d.mu held.
func (d *Daemon) readyCounts(eng *engine.Engine, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	err := d.st.View(func(tx *store.Tx) error {
		for i, eg := range eng.Groups {
			if g := d.groups[eg.Name]; g == nil || g.rec == nil || !eng.Due(i, now) {
				continue
			}
			insts, err := tx.Instances(eg.Name)
			if err != nil {
				return err
			}
			for _, in := range insts {
				if in.State == model.InService {
					out[eg.Name]++
				}
			}
		}
		return nil
	})
	return out, err
}

// persistEvery is how often a group that keeps holding has its state and
// journal entry written. A decision that changes something is written at
// once; a repeated hold changes only the stabilization and datapoint
// memory, and a crash loses at most this much of it (of recommendations
// like the ones before it). An idle group costs one write per period.
const persistEvery = 5 * time.Minute

// row is one decision to be written: copies taken under d.mu, encoded
// and written without it.
type row struct {
	dec     model.Decision
	desired int
	scaled  [3]time.Time // LastScale, LastUp, LastDown
	mem     engine.Memory
	repeats int // > 0: coalesce into the journal's newest entry
}

// rowOf copies what a group's row needs. d.mu held.
func rowOf(dec model.Decision, st *engine.State, repeats int) row {
	return row{dec: dec, desired: st.Desired, scaled: [3]time.Time{st.LastScale, st.LastUp, st.LastDown},
		mem: st.Memory(), repeats: repeats}
}

// journal is what the daemon keeps of a group's newest journal entry.
type journal struct {
	key     journalKey
	written time.Time // when the group's state was last written
	pending int       // repeated holds not written yet
}

// journalKey is what a hold must share with the group's newest journal
// entry to be coalesced into it: the capacity the entry ended at, the
// inputs that were missing and the limit that held it. A hold right after
// a change to the same capacity is coalesced into that change's entry
// ("up 4 → 5, then held ×N until …"). A stabilization window holding what
// the policies would hold anyway is not a limit worth an entry of its own;
// a guard, a cooldown or a rate limit holding back a change is.
type journalKey struct {
	desired int
	bound   model.Stage
	missing string // the inputs that were missing
}

func keyOf(dec *model.Decision) journalKey {
	k := journalKey{desired: dec.Desired}
	if s, ok := dec.Bound(); ok && dec.Direction == model.Hold && s.Stage != model.StageStabilization {
		k.bound = s.Stage
	}
	for _, in := range dec.Inputs {
		if in.Missing {
			k.missing += in.Name + ","
		}
	}
	return k
}

// prepare turns the tick's decisions into rows to write, and updates what
// the API shows. d.mu held.
func (d *Daemon) prepare(now time.Time, eng *engine.Engine, decisions []*model.Decision) []row {
	rows := make([]row, 0, len(decisions))
	for _, dec := range decisions {
		g, ok := d.groups[dec.Group]
		if !ok {
			continue
		}
		if old, seen := d.last[dec.Group]; visiblyChanged(old, seen, dec) {
			d.changed.mark(dec.Group)
		}
		d.last[dec.Group] = cloneDecision(dec)
		d.decided[dec.Group] = now
		d.noteCapacity(dec.Group, now)
		d.metrics.decided(dec)
		if dec.Desired != dec.Current {
			d.wakers.wake(dec.Group)
		}
		if dec.Direction != model.Hold {
			d.opt.Log.Info("decision", "group", dec.Group, "from", dec.Current, "to", dec.Desired, "reason", dec.Reason())
		}
		key := keyOf(dec)
		j, seen := d.journaled[dec.Group]
		repeats := 0
		if seen && j.key == key && dec.Direction == model.Hold {
			j.pending++
			if now.Sub(j.written) < persistEvery {
				d.journaled[dec.Group] = j
				continue // only memory changed: written later
			}
			repeats, j.pending, j.written = j.pending, 0, now
		} else {
			j = journal{key: key, written: now}
			if !seen {
				// Spread the writes of groups that hold over the
				// period, rather than all at one tick.
				j.written = now.Add(-time.Duration(fnv32(dec.Group)%300) * persistEvery / 300)
			}
		}
		d.journaled[dec.Group] = j
		rows = append(rows, rowOf(d.last[dec.Group], eng.States[g.index], repeats))
	}
	return rows
}

// write records rows: each group's state, its journal (a repeated hold
// coalesced into the newest entry) and its signal history.
func (d *Daemon) write(now time.Time, rows []row) {
	// A tick that decides tens of thousands of groups writes them in a
	// few transactions rather than one: a bbolt transaction holds every
	// page it changes in memory until it commits. Each group's row is in
	// one transaction, whole.
	for len(rows) > writeBatch {
		d.writeRows(now, rows[:writeBatch])
		rows = rows[writeBatch:]
	}
	d.writeRows(now, rows)
}

// writeBatch bounds the rows one transaction writes.
const writeBatch = 5000

func (d *Daemon) writeRows(now time.Time, rows []row) {
	if len(rows) == 0 {
		return
	}
	type encoded struct {
		mem, dec []byte
		values   map[string]float64
	}
	enc := make([]encoded, len(rows))
	for i, r := range rows {
		var err error
		if enc[i].mem, err = json.Marshal(r.mem); err == nil {
			enc[i].dec, err = json.Marshal(r.dec)
		}
		if err != nil {
			d.opt.Log.Error("encode decision", "group", r.dec.Group, "err", err)
			return
		}
		for _, in := range r.dec.Inputs {
			if !in.Missing {
				if enc[i].values == nil {
					enc[i].values = map[string]float64{}
				}
				enc[i].values[in.Name] = in.Value
			}
		}
	}
	if d.opt.writing != nil {
		d.opt.writing()
	}
	err := d.st.Update(func(tx *store.Tx) error {
		for i, r := range rows {
			group := r.dec.Group
			gs, _, err := tx.GroupState(group)
			if err != nil {
				return err
			}
			gs.Desired, gs.Engine = r.desired, enc[i].mem
			gs.LastScale, gs.LastUp, gs.LastDown = r.scaled[0], r.scaled[1], r.scaled[2]
			if err := tx.PutGroupState(group, gs); err != nil {
				return fmt.Errorf("save state of %s: %w", group, err)
			}
			if r.repeats > 0 {
				err = tx.RepeatDecision(group, now, enc[i].dec, r.repeats)
			} else {
				_, err = tx.AppendDecision(group, now, enc[i].dec)
			}
			if err != nil {
				return err
			}
			if len(enc[i].values) > 0 {
				if err := tx.AppendSamples(group, now, enc[i].values); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		d.opt.Log.Error("record decisions", "decisions", len(rows), "err", err)
	}
}

// flush writes the repeated holds not written yet, so a clean stop keeps
// every group's latest memory and journal count.
func (d *Daemon) flush() {
	d.mu.Lock()
	now := d.opt.Clock.Now()
	var rows []row
	for name, j := range d.journaled {
		g, ok := d.groups[name]
		dec, decided := d.last[name]
		if j.pending == 0 || !ok || !decided {
			continue
		}
		rows = append(rows, rowOf(dec, d.eng.States[g.index], j.pending))
		j.pending, j.written = 0, now
		d.journaled[name] = j
	}
	d.mu.Unlock()
	d.write(now, rows)
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// cloneDecision copies a decision out of the engine's reused buffers.
func cloneDecision(d *model.Decision) model.Decision {
	c := *d
	c.Inputs = slices.Clone(d.Inputs)
	c.Policies = slices.Clone(d.Policies)
	c.Steps = slices.Clone(d.Steps)
	c.Notes = slices.Clone(d.Notes)
	return c
}
