package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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

// read is one group's signal reads, running on their own so that a slow
// source delays only its own group.
type read struct {
	eng      *engine.Engine // the engine whose signal indexes obs uses
	started  time.Time
	deadline time.Time
	done     chan struct{}
	obs      engine.Observation // set before done is closed
	errs     map[string]error   // per signal: the last read error, nil when it read
}

func (r *read) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// decide runs one tick. Groups whose signals need reading (scrape,
// http_json) have their reads started a tick before they are due, each
// bounded by the group's interval; a due group is decided once its reads
// have finished, so a hanging endpoint holds up only its own group, which
// then decides with what it got (the missing-data rules) at the first tick
// after its reads end. Pushed values are taken at decision time. Every
// decision of the tick is recorded in one store transaction.
func (d *Daemon) decide(ctx context.Context) {
	start := d.opt.Clock.Now()
	now := start
	d.mu.Lock()
	defer d.mu.Unlock()
	eng := d.eng
	for i, eg := range eng.Groups {
		g := d.groups[eg.Name]
		if !g.reads() {
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
		d.startRead(ctx, now, eng, eg, g)
	}
	ready, err := d.readyCounts(eng)
	if err != nil {
		d.opt.Log.Error("read instance counts", "err", err)
	}
	decisions := eng.StepReady(now, func(i int) (engine.Observation, bool) {
		eg := eng.Groups[i]
		var obs engine.Observation
		if d.groups[eg.Name].reads() {
			r := d.reads[eg.Name]
			if r == nil || r.eng != eng || !r.finished() {
				return obs, false
			}
			obs = r.obs
			d.noteReadErrors(eg.Name, r.errs)
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
	d.record(now, eng, decisions)
	end := d.opt.Clock.Now()
	d.ticked.Store(end.UnixNano())
	d.metrics.tick(end.Sub(start))
}

// startRead starts a group's reads in the background. d.mu held.
func (d *Daemon) startRead(ctx context.Context, now time.Time, eng *engine.Engine, eg *engine.Group, g *group) {
	budget := max(eg.Interval, tick)
	r := &read{eng: eng, started: now, deadline: now.Add(budget), done: make(chan struct{})}
	d.reads[eg.Name] = r
	var insts []model.Instance
	if g.cfg.Provider.Local != nil {
		err := d.st.View(func(tx *store.Tx) error {
			var err error
			insts, err = tx.Instances(eg.Name)
			return err
		})
		if err != nil {
			d.opt.Log.Error("read instances", "group", eg.Name, "err", err)
		}
	}
	go func() {
		defer close(r.done)
		rctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		r.obs, r.errs = d.observe(rctx, now, eg, g, insts)
	}()
}

// readyCounts counts every group's instances in service. d.mu held.
func (d *Daemon) readyCounts(eng *engine.Engine) (map[string]int, error) {
	out := map[string]int{}
	err := d.st.View(func(tx *store.Tx) error {
		for _, eg := range eng.Groups {
			if g := d.groups[eg.Name]; g == nil || g.rec == nil {
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

// repeatJournal is how long a decision that repeats the group's last
// journaled one (a hold with the same capacities, reason and inputs) goes
// unrecorded. Deciding an idle group every interval and writing each
// identical hold and the engine memory that comes with it would cost a
// store write per group per interval; instead the journal keeps changes,
// and one entry per repeatJournal shows the group still deciding. The
// latest decision is always in memory (ebb explain, ebb status). The
// engine memory is saved with the entries, so a restart may lose up to
// this much of an unchanging group's stabilization history, made of
// recommendations like the ones before it.
const repeatJournal = 5 * time.Minute

// journaled is what was last recorded of a group's decisions, to tell
// repeats.
type journaled struct {
	at       time.Time
	dir      model.Direction
	current  int
	desired  int
	min, max int
	reason   string
	values   map[string]float64
}

func (j journaled) repeatedBy(o journaled) bool {
	return j.dir == model.Hold && o.dir == model.Hold && o.at.Sub(j.at) < repeatJournal &&
		j.current == o.current && j.desired == o.desired && j.min == o.min && j.max == o.max &&
		j.reason == o.reason && maps.Equal(j.values, o.values)
}

// record persists the tick's decisions, each group's memory and its inputs
// in one transaction, but for decisions that repeat the group's last
// journaled one (repeatJournal). d.mu held.
func (d *Daemon) record(now time.Time, eng *engine.Engine, decisions []*model.Decision) {
	if len(decisions) == 0 {
		return
	}
	type row struct {
		dec    *model.Decision
		st     *engine.State
		mem    []byte
		js     []byte
		values map[string]float64
		j      journaled
	}
	rows := make([]row, 0, len(decisions))
	for _, dec := range decisions {
		g, ok := d.groups[dec.Group]
		if !ok {
			continue
		}
		d.last[dec.Group] = cloneDecision(dec)
		d.decided[dec.Group] = now
		d.metrics.decided(dec)
		if dec.Desired != dec.Current {
			d.wakers.wake(dec.Group)
		}
		if dec.Direction != model.Hold {
			d.opt.Log.Info("decision", "group", dec.Group, "from", dec.Current, "to", dec.Desired, "reason", dec.Reason())
		}
		values := map[string]float64{}
		for _, in := range dec.Inputs {
			if !in.Missing {
				values[in.Name] = in.Value
			}
		}
		j := journaled{at: now, dir: dec.Direction, current: dec.Current, desired: dec.Desired,
			min: dec.Min, max: dec.Max, reason: dec.Reason(), values: values}
		if last, ok := d.journaled[dec.Group]; ok && last.repeatedBy(j) {
			continue
		}
		st := eng.States[g.index]
		mem, _ := json.Marshal(st.Memory())
		js, err := json.Marshal(dec)
		if err != nil {
			d.opt.Log.Error("encode decision", "group", dec.Group, "err", err)
			continue
		}
		rows = append(rows, row{dec: dec, st: st, mem: mem, js: js, values: values, j: j})
	}
	if len(rows) == 0 {
		return
	}
	err := d.st.Update(func(tx *store.Tx) error {
		for _, r := range rows {
			if err := d.putState(tx, r.dec.Group, r.st, r.mem); err != nil {
				return err
			}
			if _, err := tx.AppendDecision(r.dec.Group, now, r.js); err != nil {
				return err
			}
			if len(r.values) > 0 {
				if err := tx.AppendSamples(r.dec.Group, now, r.values); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		d.opt.Log.Error("record decisions", "decisions", len(rows), "err", err)
		return
	}
	for _, r := range rows {
		d.journaled[r.dec.Group] = r.j
	}
}

// putState writes a group's engine state into its stored state.
func (d *Daemon) putState(tx *store.Tx, group string, st *engine.State, mem []byte) error {
	gs, _, err := tx.GroupState(group)
	if err != nil {
		return err
	}
	gs.Desired, gs.LastScale, gs.LastUp, gs.LastDown, gs.Engine = st.Desired, st.LastScale, st.LastUp, st.LastDown, mem
	if err := tx.PutGroupState(group, gs); err != nil {
		return fmt.Errorf("save state of %s: %w", group, err)
	}
	return nil
}

// cloneDecision copies a decision out of the engine's reused buffers.
func cloneDecision(d *model.Decision) model.Decision {
	c := *d
	c.Inputs = slices.Clone(d.Inputs)
	c.Policies = slices.Clone(d.Policies)
	c.Steps = slices.Clone(d.Steps)
	return c
}
