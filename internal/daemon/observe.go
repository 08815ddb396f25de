package daemon

import (
	"context"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// job is one source's share of a round: every read the round's groups need
// from that source, answered by one Source.Read, which asks its backend as
// few times as it can (one Prometheus query for all groups sharing it).
type job struct {
	src  *source.Source
	reqs []source.Request
	vals []source.Value // set before done is closed
	end  time.Time      // when the reads ended
	done chan struct{}
}

func (j *job) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// slot is where one of a group's values is in its job.
type slot struct {
	job    *job
	at     int // index in job.reqs
	signal int // index in the engine group
	name   string
	inst   int // index in read.insts; -1 for the group's own value
}

// read is one group's signal reads of a round; a group is decided once
// every job it has a slot in has ended.
type read struct {
	eng      *engine.Engine // the engine whose signal indexes the slots use
	started  time.Time
	deadline time.Time
	jobs     []*job
	slots    []slot
	insts    []model.Instance // live instances, for per-instance reads
	perInst  bool
}

func (r *read) finished() bool {
	for _, j := range r.jobs {
		if !j.finished() {
			return false
		}
	}
	return true
}

// wait blocks until the read has finished (for tests).
func (r *read) wait() {
	for _, j := range r.jobs {
		<-j.done
	}
}

// startRound starts the reads of the groups due (by index in eng) in one
// round: each source gets every read of these groups at once, and runs on
// its own, bounded by the shortest interval of the groups it serves, so a
// slow source delays only the groups reading from it. d.mu held.
func (d *Daemon) startRound(ctx context.Context, now time.Time, eng *engine.Engine, due []int) {
	insts := d.liveInstances(eng, due)
	jobs := map[*source.Source]*job{}
	budgets := map[*job]time.Duration{}
	var order []*job
	for _, i := range due {
		eg := eng.Groups[i]
		g := d.groups[eg.Name]
		budget := max(eg.Interval, tick)
		r := &read{eng: eng, started: now, deadline: now.Add(budget), insts: insts[eg.Name]}
		mine := map[*job]bool{}
		for _, sr := range g.signals {
			j := jobs[sr.src]
			if j == nil {
				j = &job{src: sr.src, done: make(chan struct{})}
				jobs[sr.src] = j
				order = append(order, j)
			}
			if b, ok := budgets[j]; !ok || budget < b {
				budgets[j] = budget
			}
			if !sr.perInstance {
				r.slots = append(r.slots, slot{job: j, at: len(j.reqs), signal: sr.signal, name: sr.name, inst: -1})
				j.reqs = append(j.reqs, source.Request{Group: eg.Name, Query: sr.query})
				mine[j] = true
				continue
			}
			r.perInst = true
			for k := range r.insts {
				if r.insts[k].Addr == "" {
					continue
				}
				r.slots = append(r.slots, slot{job: j, at: len(j.reqs), signal: sr.signal, name: sr.name, inst: k})
				j.reqs = append(j.reqs, source.Request{Group: eg.Name, Instance: &r.insts[k], Query: sr.query})
				mine[j] = true
			}
		}
		for _, j := range order {
			if mine[j] {
				r.jobs = append(r.jobs, j)
			}
		}
		d.reads[eg.Name] = r
	}
	for _, j := range order {
		if len(j.reqs) == 0 {
			close(j.done)
			continue
		}
		budget := budgets[j]
		go func() {
			defer close(j.done)
			rctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			j.vals = j.src.Read(rctx, j.reqs)
			j.end = d.opt.Clock.Now()
		}()
	}
}

// liveInstances lists, for the due groups with per-instance reads, the
// instances launching or in service, in one store transaction. d.mu held.
func (d *Daemon) liveInstances(eng *engine.Engine, due []int) map[string][]model.Instance {
	out := map[string][]model.Instance{}
	err := d.st.View(func(tx *store.Tx) error {
		for _, i := range due {
			name := eng.Groups[i].Name
			g := d.groups[name]
			if g.rec == nil || !g.perInstance() {
				continue
			}
			insts, err := tx.Instances(name)
			if err != nil {
				return err
			}
			for _, in := range insts {
				if in.State == model.InService || in.State == model.Launching {
					out[name] = append(out[name], in)
				}
			}
		}
		return nil
	})
	if err != nil {
		d.opt.Log.Error("read instances", "err", err)
	}
	return out
}

// perInstance reports whether the group has a signal read per instance.
func (g *group) perInstance() bool {
	for _, sr := range g.signals {
		if sr.perInstance {
			return true
		}
	}
	return false
}

// observation assembles a finished read: the group's values as samples
// (taken when the backend measured them, when it says), per-instance
// values by instance, and per signal the read's error (nil when it read).
// A launching instance that does not answer yet is not an error.
func (r *read) observation(eg *engine.Group, now time.Time) (engine.Observation, map[string]error) {
	obs := engine.Observation{Now: now}
	errs := map[string]error{}
	note := func(name string, err error) {
		if err != nil || errs[name] == nil {
			errs[name] = err
		}
	}
	if r.perInst {
		obs.Instances = make([]engine.Instance, len(r.insts))
		for k, in := range r.insts {
			obs.Instances[k] = engine.Instance{ID: in.ID, Ready: in.State == model.InService, Launched: in.LaunchedAt,
				Values: make([]policy.Value, len(eg.SignalNames()))}
		}
	}
	for _, s := range r.slots {
		v := s.job.vals[s.at]
		if s.inst < 0 {
			note(s.name, v.Err)
			if v.Err == nil {
				t := v.At
				if t.IsZero() || t.After(s.job.end) {
					t = s.job.end
				}
				obs.Samples = append(obs.Samples, engine.Sample{Signal: s.signal, T: t, V: v.V})
			}
			continue
		}
		if v.Err == nil || r.insts[s.inst].State == model.InService {
			note(s.name, v.Err)
		}
		obs.Instances[s.inst].Values[s.signal] = policy.Value{V: v.V, OK: v.Err == nil}
	}
	return obs, errs
}
