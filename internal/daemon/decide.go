package daemon

import (
	"context"
	"encoding/json"
	"sync"
	"text/template"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// tick is the decision loop's resolution; each group is evaluated on its
// own interval, on the first tick at or after it is due.
const tick = time.Second

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

// decide runs one tick: read the due groups' signals, decide, record.
func (d *Daemon) decide(ctx context.Context) {
	now := d.opt.Clock.Now()
	d.mu.Lock()
	eng, cfg, groups := d.eng, d.cfg, d.groups
	var due []int
	for i := range eng.Groups {
		if eng.Due(i, now) {
			due = append(due, i)
		}
	}
	d.mu.Unlock()
	if len(due) == 0 {
		return
	}
	obs := make([]engine.Observation, len(eng.Groups))
	var wg sync.WaitGroup
	for _, i := range due {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			obs[i] = d.observe(ctx, now, eng.Groups[i], groups[cfg.Groups[i].Name])
		}(i)
	}
	wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.eng != eng { // reloaded meanwhile: the next tick uses the new one
		return
	}
	decisions := eng.Step(now, func(i int) engine.Observation { return obs[i] })
	for _, dec := range decisions {
		d.record(now, eng, dec)
	}
	d.ready = true
}

// observe gathers one group's signals: pushed values, group-level http_json
// reads and per-instance scrapes. A source that fails leaves its signal
// without a new value (it goes stale, and the missing-data mode applies);
// the failure is logged.
func (d *Daemon) observe(ctx context.Context, now time.Time, g *engine.Group, rg *group) engine.Observation {
	gc := rg.cfg
	obs := engine.Observation{Now: now}
	for _, s := range d.push.Take(g.Name) {
		if i, ok := g.SignalIndex(s.Signal); ok {
			obs.Samples = append(obs.Samples, engine.Sample{Signal: i, T: s.T, V: s.V})
		}
	}
	var insts []model.Instance
	if gc.Provider.Local != nil {
		d.st.View(func(tx *store.Tx) error {
			var err error
			insts, err = tx.Instances(g.Name)
			return err
		})
	}
	for _, in := range insts {
		if in.State == model.InService {
			obs.Ready++
		}
	}
	perInstance := false
	for name, sc := range gc.Signals {
		i, _ := g.SignalIndex(name)
		switch {
		case sc.HTTPJSON != nil && !sc.HTTPJSON.PerInstance:
			if v, ok := d.readJSON(ctx, g.Name, name, sc.HTTPJSON, rg.urls[name], model.Instance{Group: g.Name}); ok {
				obs.Samples = append(obs.Samples, engine.Sample{Signal: i, T: now, V: v})
			}
		case sc.Scrape != nil || sc.HTTPJSON != nil:
			perInstance = true
		}
	}
	if !perInstance {
		return obs
	}
	for _, in := range insts {
		if in.State != model.InService && in.State != model.Launching {
			continue
		}
		inst := engine.Instance{ID: in.ID, Ready: in.State == model.InService, Launched: in.LaunchedAt,
			Values: make([]policy.Value, len(g.SignalNames()))}
		for name, sc := range gc.Signals {
			i, _ := g.SignalIndex(name)
			switch {
			case sc.Scrape != nil && in.Addr != "":
				v, ok := d.scrape(ctx, g.Name, name, sc.Scrape, rg.urls[name], in)
				inst.Values[i] = policy.Value{V: v, OK: ok}
			case sc.HTTPJSON != nil && sc.HTTPJSON.PerInstance && in.Addr != "":
				v, ok := d.readJSON(ctx, g.Name, name, sc.HTTPJSON, rg.urls[name], in)
				inst.Values[i] = policy.Value{V: v, OK: ok}
			}
		}
		obs.Instances = append(obs.Instances, inst)
	}
	return obs
}

func (d *Daemon) scrape(ctx context.Context, group, signal string, sc *config.Scrape, tmpl *template.Template, in model.Instance) (float64, bool) {
	url, err := config.Execute(tmpl, config.DataFor(in))
	if err != nil {
		d.opt.Log.Warn("scrape url", "group", group, "signal", signal, "err", err)
		return 0, false
	}
	cctx, cancel := context.WithTimeout(ctx, sc.Timeout.D())
	defer cancel()
	v, found, err := source.Scrape(cctx, d.http, url, source.Metric{Name: sc.Metric, Labels: sc.Labels})
	if err != nil {
		if in.State == model.InService {
			d.opt.Log.Warn("scrape failed", "group", group, "signal", signal, "instance", in.ID, "err", err)
		}
		return 0, false
	}
	return v, found
}

func (d *Daemon) readJSON(ctx context.Context, group, signal string, hj *config.HTTPJSON, tmpl *template.Template, in model.Instance) (float64, bool) {
	url, err := config.Execute(tmpl, config.DataFor(in))
	if err != nil {
		d.opt.Log.Warn("http_json url", "group", group, "signal", signal, "err", err)
		return 0, false
	}
	cctx, cancel := context.WithTimeout(ctx, hj.Timeout.D())
	defer cancel()
	v, err := source.JSONNumber(cctx, d.http, url, hj.Path)
	if err != nil {
		d.opt.Log.Warn("http_json read failed", "group", group, "signal", signal, "err", err)
		return 0, false
	}
	return v, true
}

// record persists a decision, the group's memory and its inputs. d.mu held.
func (d *Daemon) record(now time.Time, eng *engine.Engine, dec *model.Decision) {
	g, ok := d.groups[dec.Group]
	if !ok {
		return
	}
	d.last[dec.Group] = cloneDecision(dec)
	d.metrics.decided(dec)
	if dec.Direction != model.Hold {
		d.opt.Log.Info("decision", "group", dec.Group, "from", dec.Current, "to", dec.Desired, "reason", dec.Reason())
	}
	mem, _ := json.Marshal(eng.States[g.index].Memory())
	js, err := json.Marshal(dec)
	if err != nil {
		d.opt.Log.Error("encode decision", "group", dec.Group, "err", err)
		return
	}
	values := map[string]float64{}
	for _, in := range dec.Inputs {
		if !in.Missing {
			values[in.Name] = in.Value
		}
	}
	err = d.st.Update(func(tx *store.Tx) error {
		gs, _, err := tx.GroupState(dec.Group)
		if err != nil {
			return err
		}
		st := eng.States[g.index]
		gs.Desired, gs.LastScale, gs.LastUp, gs.LastDown, gs.Engine = st.Desired, st.LastScale, st.LastUp, st.LastDown, mem
		if err := tx.PutGroupState(dec.Group, gs); err != nil {
			return err
		}
		if _, err := tx.AppendDecision(dec.Group, now, js); err != nil {
			return err
		}
		if len(values) == 0 {
			return nil
		}
		return tx.AppendSamples(dec.Group, now, values)
	})
	if err != nil {
		d.opt.Log.Error("record decision", "group", dec.Group, "err", err)
	}
}

// cloneDecision copies a decision out of the engine's reused buffers.
func cloneDecision(d *model.Decision) model.Decision {
	c := *d
	c.Inputs = append([]model.SignalValue(nil), d.Inputs...)
	c.Policies = append([]model.Recommendation(nil), d.Policies...)
	c.Steps = append([]model.Step(nil), d.Steps...)
	return c
}
