package daemon

import (
	"fmt"
	"reflect"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// opened is one open source and the config it was opened with, so a reload
// that leaves it unchanged keeps it (its connections and health).
type opened struct {
	src  *source.Source
	kind string
	conn any
}

// signalRead is one signal of a group that a source reads.
type signalRead struct {
	signal      int    // index in the engine group
	name        string // the signal's name
	src         *source.Source
	query       any
	perInstance bool
}

// kind returns the registered source kind named name.
func (d *Daemon) kind(name string) (source.Kind, bool) {
	for _, k := range d.opt.Sources {
		if k.Name == name {
			return k, true
		}
	}
	return source.Kind{}, false
}

// openSources opens the sources cfg uses: each named one, and each
// standalone kind a signal uses without a name (under the kind's name,
// with default settings). A source whose kind and settings are those of a
// source open now is kept. fresh lists the sources opened here, for the
// caller to close if the configuration is not installed.
func (d *Daemon) openSources(cfg *config.File, current map[string]opened) (all map[string]opened, fresh []*source.Source, err error) {
	all = map[string]opened{}
	want := map[string]config.Plugged{}
	for name, p := range cfg.Sources {
		want[name] = p
	}
	for _, g := range cfg.Groups {
		for _, s := range g.Signals {
			if s.Read.IsSet() && s.Source == "" {
				want[implicit(s.Read.Kind)] = config.Plugged{Kind: s.Read.Kind}
			}
		}
	}
	for _, name := range sortedKeys(want) {
		p := want[name]
		k, ok := d.kind(p.Kind)
		if !ok {
			err = fmt.Errorf("source %s: kind %s is not built into this ebb", name, p.Kind)
			break
		}
		conn := p.Config
		if conn == nil {
			if conn, err = config.Defaults(k.Conn); err != nil {
				break
			}
		}
		if old, ok := current[name]; ok && old.kind == p.Kind && reflect.DeepEqual(old.conn, conn) {
			all[name] = old
			continue
		}
		src, oerr := k.Open(conn, source.Deps{Name: name, Clock: d.opt.Clock, Log: d.opt.Log.With("source", name)})
		if oerr != nil {
			err = oerr
			break
		}
		src.Observe(d.metrics.sourceRead)
		fresh = append(fresh, src)
		all[name] = opened{src: src, kind: p.Kind, conn: conn}
	}
	if err != nil {
		closeSources(fresh)
		return nil, nil, err
	}
	return all, fresh, nil
}

// implicit names the source a standalone kind is read through when a
// signal names none. The prefix keeps it apart from a named source of the
// same name.
func implicit(kind string) string { return "(" + kind + ")" }

func closeSources(srcs []*source.Source) {
	for _, s := range srcs {
		_ = s.Close() // it only releases connections
	}
}

// retire closes the sources of old that all does not keep.
func retire(old, all map[string]opened) {
	var gone []*source.Source
	for name, o := range old {
		if n, ok := all[name]; !ok || n.src != o.src {
			gone = append(gone, o.src)
		}
	}
	closeSources(gone)
}

// signalReads lists the signals of a group that sources read.
func signalReads(gc config.Group, eg *engine.Group, srcs map[string]opened) ([]signalRead, error) {
	var out []signalRead
	for _, name := range sortedKeys(gc.Signals) {
		s := gc.Signals[name]
		if !s.Read.IsSet() {
			continue
		}
		srcName := s.Source
		if srcName == "" {
			srcName = implicit(s.Read.Kind)
		}
		o, ok := srcs[srcName]
		if !ok {
			return nil, fmt.Errorf("group %s, signal %s: source %s is not open", gc.Name, name, srcName)
		}
		i, ok := eg.SignalIndex(name)
		if !ok {
			return nil, fmt.Errorf("group %s: signal %s has no index", gc.Name, name)
		}
		out = append(out, signalRead{signal: i, name: name, src: o.src, query: s.Read.Config, perInstance: source.PerInstance(s.Read.Config)})
	}
	return out, nil
}

// Sources reports the health of every open source, sorted by name.
func (d *Daemon) Sources() []source.Health {
	d.mu.Lock()
	srcs := make([]*source.Source, 0, len(d.sources))
	for _, name := range sortedKeys(d.sources) {
		srcs = append(srcs, d.sources[name].src)
	}
	d.mu.Unlock()
	out := make([]source.Health, len(srcs))
	for i, s := range srcs {
		out[i] = s.Health()
	}
	return out
}

// decidedSince lists the groups decided at or after t (for benchmarks and
// tests).
func (d *Daemon) decidedSince(t time.Time) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for name, at := range d.decided {
		if !at.Before(t) {
			out = append(out, name)
		}
	}
	return out
}

// kinds is the registry as the config package sees it: the source and
// provider kinds this daemon was given.
func (d *Daemon) kinds() *config.Kinds {
	k := source.Registry(d.opt.Sources)
	for _, p := range d.opt.Providers {
		k.Providers = append(k.Providers, p.Kind)
	}
	return k
}
