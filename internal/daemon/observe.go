package daemon

import (
	"context"
	"errors"
	"sync"
	"text/template"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// instanceReads bounds how many instances of one group are read at once.
const instanceReads = 8

// readTries bounds the attempts of one read; a transient failure (a
// refused connection, a 5xx) is retried with exponential backoff and full
// jitter within the read's own timeout.
const readTries = 3

// reads reports whether the group has signals ebb must fetch (scrape,
// http_json), as opposed to pushed and derived ones.
func (g *group) reads() bool { return g != nil && len(g.urls) > 0 }

// observe reads one group's fetched signals: group-level http_json reads
// and per-instance scrapes, the instances read in parallel. A read that
// fails leaves its signal without a new value (it goes stale, and the
// missing-data mode applies); errs holds each signal's last failure.
func (d *Daemon) observe(ctx context.Context, now time.Time, g *engine.Group, rg *group, insts []model.Instance) (engine.Observation, map[string]error) {
	obs := engine.Observation{Now: now}
	var mu sync.Mutex
	errs := map[string]error{}
	note := func(signal string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil || errs[signal] == nil {
			errs[signal] = err
		}
	}
	perInstance := false
	for name, sc := range rg.cfg.Signals {
		i, _ := g.SignalIndex(name)
		switch {
		case sc.HTTPJSON != nil && !sc.HTTPJSON.PerInstance:
			v, err := d.readJSON(ctx, sc.HTTPJSON, rg.urls[name], model.Instance{Group: g.Name})
			note(name, err)
			if err == nil {
				obs.Samples = append(obs.Samples, engine.Sample{Signal: i, T: d.opt.Clock.Now(), V: v})
			}
		case sc.Scrape != nil || sc.HTTPJSON != nil:
			perInstance = true
		}
	}
	if !perInstance {
		return obs, errs
	}
	var live []model.Instance
	for _, in := range insts {
		if in.State == model.InService || in.State == model.Launching {
			live = append(live, in)
		}
	}
	obs.Instances = make([]engine.Instance, len(live))
	sem := make(chan struct{}, instanceReads)
	var wg sync.WaitGroup
	for k, in := range live {
		inst := engine.Instance{ID: in.ID, Ready: in.State == model.InService, Launched: in.LaunchedAt,
			Values: make([]policy.Value, len(g.SignalNames()))}
		obs.Instances[k] = inst
		if in.Addr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			for name, sc := range rg.cfg.Signals {
				i, _ := g.SignalIndex(name)
				var v float64
				var ok bool
				var err error
				switch {
				case sc.Scrape != nil:
					v, ok, err = d.scrape(ctx, sc.Scrape, rg.urls[name], in)
				case sc.HTTPJSON != nil && sc.HTTPJSON.PerInstance:
					v, err = d.readJSON(ctx, sc.HTTPJSON, rg.urls[name], in)
					ok = err == nil
				default:
					continue
				}
				// A launching instance that does not answer yet is normal.
				if err != nil && in.State == model.InService {
					note(name, err)
				} else if err == nil {
					note(name, nil)
				}
				inst.Values[i] = policy.Value{V: v, OK: ok && err == nil}
			}
		}()
	}
	wg.Wait()
	return obs, errs
}

// retry runs one read with up to readTries attempts, retrying transient
// failures with backoff while ctx allows, and times each attempt.
func retry[T any](ctx context.Context, d *Daemon, kind string, op func(context.Context) (T, error), timeout time.Duration) (T, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.RandomizationFactor = 100*time.Millisecond, time.Second, 1
	return backoff.Retry(ctx, func() (T, error) {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := d.opt.Clock.Now()
		v, err := op(actx)
		d.metrics.sourceRead(kind, d.opt.Clock.Now().Sub(start), err)
		if err != nil && !source.Transient(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(readTries))
}

type scraped struct {
	v     float64
	found bool
}

func (d *Daemon) scrape(ctx context.Context, sc *config.Scrape, tmpl *template.Template, in model.Instance) (float64, bool, error) {
	url, err := config.Execute(tmpl, config.DataFor(in))
	if err != nil {
		return 0, false, err
	}
	m := source.Metric{Name: sc.Metric, Labels: sc.Labels}
	got, err := retry(ctx, d, "scrape", func(ctx context.Context) (scraped, error) {
		v, found, err := source.Scrape(ctx, d.http, url, m)
		return scraped{v, found}, err
	}, sc.Timeout.D())
	if err != nil {
		return 0, false, unwrapPermanent(err)
	}
	return got.v, got.found, nil
}

func (d *Daemon) readJSON(ctx context.Context, hj *config.HTTPJSON, tmpl *template.Template, in model.Instance) (float64, error) {
	url, err := config.Execute(tmpl, config.DataFor(in))
	if err != nil {
		return 0, err
	}
	v, err := retry(ctx, d, "http_json", func(ctx context.Context) (float64, error) {
		return source.JSONNumber(ctx, d.http, url, hj.Path)
	}, hj.Timeout.D())
	return v, unwrapPermanent(err)
}

func unwrapPermanent(err error) error {
	var p *backoff.PermanentError
	if errors.As(err, &p) {
		return p.Err
	}
	return err
}
