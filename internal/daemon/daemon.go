package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
	"github.com/ebb-autoscaler/ebb/internal/registry"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Options configure a Daemon.
type Options struct {
	ConfigPath string
	Clock      clock.Clock
	Log        *slog.Logger
	// Token guards the API's mutations; empty means read it from the
	// config's token_file or the EBB_TOKEN environment variable.
	Token string
	// ReconcileEvery is how often each group's fleet is reconciled while
	// something is in flight (default 1s).
	ReconcileEvery time.Duration
	// IdleEvery is how often a settled group (fleet.Status.Settled) is
	// reconciled (default 5s, never less than ReconcileEvery). A change of
	// desired capacity, a suspension, an operator action or a new
	// configuration wakes its loop at once.
	IdleEvery time.Duration
	// ReloadEvery is how often the config file is checked for changes
	// (default 2s).
	ReloadEvery time.Duration
	// Seed seeds instance IDs and jitter; 0 picks one from the clock.
	Seed uint64
	// Sources are the source kinds signals may read (the composition
	// root's registry). Pushed and derived signals need none.
	Sources []source.Kind
	// Providers are the provider kinds groups may use beside local.
	Providers []provider.Kind
	// Store, when set, is the store to use instead of the config's
	// store.path (a PostgreSQL store shared by replicas); the caller
	// closes it.
	Store *store.Store
	// Follow makes a daemon for a replica that does not lead: it builds
	// no reconcilers, writes nothing, and is run with Follow, not Run.
	Follow bool

	// readFile replaces os.ReadFile for the config and token files, so
	// tests can make a read fail.
	readFile func(string) ([]byte, error)
	// writing, when set, is called as a tick's store writes begin.
	writing func()
}

// Daemon is a running ebb.
type Daemon struct {
	opt        Options
	freshStore bool         // the state file was missing or empty at start
	ticked     atomic.Int64 // when the decision loop last finished a tick (Unix ns); 0 before the first
	st         *store.Store
	push       *source.Push
	http       *http.Client
	rng        *rand.Rand
	wakers     *wakers
	changed    *changes // what the dashboard's event stream redraws

	mu        sync.Mutex // guards what follows
	cfg       *config.File
	eng       *engine.Engine
	groups    map[string]*group
	last      map[string]model.Decision
	decided   map[string]time.Time // when each group was last decided
	journaled map[string]journal   // each group's newest journal entry
	reads     map[string]*read     // signal reads in flight, by group
	sources   map[string]opened    // open sources by name (implicit ones in parentheses)
	health    map[string]map[string]signalHealth
	loops     map[string]bool // groups with a running reconcile loop
	adopted   map[string]bool // groups whose running instances were adopted
	capacity  map[string][]CapacityPoint
	modTime   time.Time
	token     string
	reload    chan struct{}
	// rejected and unreadable hold the last reload failure, so each is
	// logged once, not at every poll.
	rejected, unreadable string
	metrics              *metrics

	reg         *registry.Registry
	registryURL atomic.Pointer[string] // SetAddress's
}

// group is one group's runtime.
type group struct {
	cfg     config.Group
	index   int // in the engine
	rec     *fleet.Reconciler
	status  fleet.Status
	signals []signalRead // the signals sources read
	fresh   bool         // the store had no state for the group
}

// New loads the configuration and opens the store; Run starts the loops.
func New(opt Options) (*Daemon, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.ReconcileEvery <= 0 {
		opt.ReconcileEvery = time.Second
	}
	if opt.IdleEvery <= 0 {
		opt.IdleEvery = 5 * time.Second
	}
	opt.IdleEvery = max(opt.IdleEvery, opt.ReconcileEvery)
	if opt.ReloadEvery <= 0 {
		opt.ReloadEvery = 2 * time.Second
	}
	if opt.Seed == 0 {
		opt.Seed = uint64(opt.Clock.Now().UnixNano())
	}
	opt.Log.Debug("random seed", "seed", opt.Seed)
	d := &Daemon{
		opt: opt, push: source.NewPush(),
		http:   &http.Client{Timeout: 30 * time.Second},
		rng:    rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)),
		groups: map[string]*group{}, last: map[string]model.Decision{}, loops: map[string]bool{}, adopted: map[string]bool{},
		decided: map[string]time.Time{}, journaled: map[string]journal{}, reads: map[string]*read{}, health: map[string]map[string]signalHealth{},
		reload: make(chan struct{}, 1), wakers: newWakers(), changed: newChanges(), capacity: map[string][]CapacityPoint{},
	}
	d.metrics = newMetrics(d)
	l, err := d.load()
	if err != nil {
		return nil, err
	}
	if d.st = opt.Store; d.st == nil {
		path := l.cfg.Store.Path
		fi, err := os.Stat(path)
		d.freshStore = errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0)
		if d.st, err = store.Open(path, StoreOptions(l.cfg.Store)); err != nil {
			closeSources(l.fresh)
			return nil, err
		}
	}
	if err := d.openRegistry(l.cfg.Registry); err != nil {
		closeSources(l.fresh)
		d.closeStore()
		return nil, err
	}
	if _, err := d.install(l); err != nil {
		d.closeStore()
		return nil, err
	}
	return d, nil
}

// StoreOptions are the store's retention settings from the config.
func StoreOptions(c config.Store) store.Options {
	return store.Options{
		JournalMax: c.JournalMax, JournalAge: c.JournalAge.D(),
		SignalAge: c.SignalAge.D(), SignalMax: c.SignalMax,
	}
}

// closeStore closes the store the daemon opened; one it was given is the
// caller's.
func (d *Daemon) closeStore() {
	if d.opt.Store == nil {
		d.st.Close()
	}
}

// loaded is a configuration read from its file, with what reading it
// needed beside the file itself.
type loaded struct {
	cfg   *config.File
	eng   *engine.Engine
	mod   time.Time
	token string
	// sources are the sources the configuration uses, open; fresh the ones
	// opened for it, closed if it is not installed.
	sources map[string]opened
	fresh   []*source.Source
}

// errRead marks a failure to read the config file or its token file, as
// opposed to their content being wrong: a reload retries it.
type errRead struct{ err error }

func (e errRead) Error() string { return e.err.Error() }
func (e errRead) Unwrap() error { return e.err }

// load reads, validates and compiles the config file, and reads the token
// file it names (unless the token was given in Options).
func (d *Daemon) load() (loaded, error) {
	path := d.opt.ConfigPath
	fi, err := os.Stat(path)
	if err != nil {
		return loaded{}, errRead{fmt.Errorf("read config: %w", err)}
	}
	data, err := d.readFile(path)
	if err != nil {
		return loaded{}, errRead{fmt.Errorf("read config: %w", err)}
	}
	cfg, err := d.kinds().Parse(path, data)
	if err != nil {
		return loaded{}, err
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return loaded{}, fmt.Errorf("%s: %w", path, err)
	}
	l := loaded{cfg: cfg, eng: eng, mod: fi.ModTime(), token: d.opt.Token}
	if l.token == "" {
		if l.token, err = d.readToken(cfg.API.TokenFile); err != nil {
			return loaded{}, err
		}
	}
	d.mu.Lock()
	current := d.sources
	d.mu.Unlock()
	if l.sources, l.fresh, err = d.openSources(cfg, current); err != nil {
		return loaded{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func (d *Daemon) readFile(path string) ([]byte, error) {
	if d.opt.readFile != nil {
		return d.opt.readFile(path)
	}
	return os.ReadFile(path)
}

func (d *Daemon) readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("EBB_TOKEN"), nil
	}
	b, err := d.readFile(file)
	if err != nil {
		return "", errRead{fmt.Errorf("read api token: %w", err)}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read api token: %s is empty", file)
	}
	return tok, nil
}

// recUpdate is a running reconciler's new spec and provider, applied once
// d.mu is released (a reconciler takes d.mu under its own lock, never the
// other way round).
type recUpdate struct {
	rec  *fleet.Reconciler
	spec fleet.Spec
	prov any // a fleet.Provider or a provider.Capacity
}

// install makes a loaded configuration current: each group's engine
// memory is carried over (from the running engine, else from the store)
// and its reconciler built, or kept and updated (so drains under way follow
// the new lifecycle). It refuses a configuration that drops a group which
// still has instances. Nothing is changed unless every group builds; the
// returned updates are for the caller to apply without d.mu.
func (d *Daemon) install(l loaded) ([]recUpdate, error) {
	updates, err := d.installSources(l)
	if err != nil {
		closeSources(l.fresh)
		return nil, err
	}
	retire(d.sources, l.sources)
	d.sources = l.sources
	return updates, nil
}

func (d *Daemon) installSources(l loaded) ([]recUpdate, error) {
	cfg, eng := l.cfg, l.eng
	if err := d.checkRemoved(cfg); err != nil {
		return nil, err
	}
	var updates []recUpdate
	groups := map[string]*group{}
	for i, gc := range cfg.Groups {
		g := &group{cfg: gc, index: i}
		var err error
		if g.signals, err = signalReads(gc, eng.Groups[i], l.sources); err != nil {
			return nil, err
		}
		if old, ok := d.groups[gc.Name]; ok {
			g.status = old.status
			g.rec = old.rec // keeps its backoff, health and drain-retry state
			if old.rec != nil && hasProvider(gc) &&
				(!reflect.DeepEqual(old.cfg.Provider, gc.Provider) || !reflect.DeepEqual(old.cfg.Lifecycle, gc.Lifecycle)) {
				spec, prov, err := d.fleetParts(gc)
				if err != nil {
					return nil, err
				}
				updates = append(updates, recUpdate{rec: old.rec, spec: spec, prov: prov})
			}
		}
		if hasProvider(gc) && g.rec == nil && !d.opt.Follow {
			rec, err := d.reconciler(gc)
			if err != nil {
				return nil, err
			}
			g.rec = rec
		}
		groups[gc.Name] = g
	}
	// Memories: the running engine's where the group existed, else the
	// store's (a restart). Restore clamps desired to the new bounds.
	clamped := map[int]int{} // group index → desired before the clamp
	restore := func(i int, m engine.Memory) {
		eng.Groups[i].Restore(eng.States[i], m)
		if eng.States[i].Desired != m.Desired {
			clamped[i] = m.Desired
		}
	}
	for i, g := range eng.Groups {
		if d.eng != nil {
			if old, ok := d.groups[g.Name]; ok {
				restore(i, d.eng.States[old.index].Memory())
				continue
			}
		}
		var gs store.GroupState
		var found bool
		if err := d.st.View(func(tx *store.Tx) error {
			var err error
			gs, found, err = tx.GroupState(g.Name)
			return err
		}); err != nil {
			return nil, fmt.Errorf("read state of %s: %w", g.Name, err)
		}
		groups[g.Name].fresh = !found
		if found && len(gs.Engine) > 0 {
			var m engine.Memory
			if err := json.Unmarshal(gs.Engine, &m); err != nil {
				d.opt.Log.Warn("engine memory unreadable; starting afresh", "group", g.Name, "err", err)
				continue
			}
			restore(i, m)
		}
	}
	d.cfg, d.eng, d.groups, d.modTime, d.token = cfg, eng, groups, l.mod, l.token
	// What is kept per group goes with the group.
	gone := func(name string) bool { return groups[name] == nil }
	maps.DeleteFunc(d.journaled, func(name string, _ journal) bool { return gone(name) })
	maps.DeleteFunc(d.reads, func(name string, _ *read) bool { return gone(name) })
	maps.DeleteFunc(d.health, func(name string, _ map[string]signalHealth) bool { return gone(name) })
	maps.DeleteFunc(d.last, func(name string, _ model.Decision) bool { return gone(name) })
	maps.DeleteFunc(d.decided, func(name string, _ time.Time) bool { return gone(name) })
	maps.DeleteFunc(d.capacity, func(name string, _ []CapacityPoint) bool { return gone(name) })
	d.changed.mark("") // groups came, went or changed bounds: every view may differ
	if !d.opt.Follow {
		d.journalClamps(clamped)
	}
	return updates, nil
}

// checkRemoved refuses a configuration without a group that still has
// instances: they would run on unmanaged, and without the group's config
// ebb could not even drain them. The user scales the group to 0 first.
func (d *Daemon) checkRemoved(cfg *config.File) error {
	keep := map[string]bool{}
	for _, gc := range cfg.Groups {
		keep[gc.Name] = true
	}
	var errs []error
	err := d.st.View(func(tx *store.Tx) error {
		names, err := tx.Groups()
		if err != nil {
			return err
		}
		for _, name := range names {
			if keep[name] {
				continue
			}
			insts, err := tx.Instances(name)
			if err != nil {
				return err
			}
			var live []string
			for _, in := range insts {
				if !in.State.Ended() {
					live = append(live, in.ID)
				}
			}
			if len(live) > 0 {
				errs = append(errs, fmt.Errorf("group %s is not in the config but still has %d instances (%s): "+
					"keep it with capacity {min: 0, max: 0} until they have drained, then remove it", name, len(live), strings.Join(live, ", ")))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read groups in the state file: %w", err)
	}
	return errors.Join(errs...)
}

// journalClamps records, as decisions, the desired capacities a new
// configuration's bounds changed (a lower max, a higher min), so the
// activity log says why capacity moved. d.mu held, or not yet shared.
func (d *Daemon) journalClamps(clamped map[int]int) {
	now := d.opt.Clock.Now()
	var decisions []*model.Decision
	for i, eg := range d.eng.Groups {
		from, ok := clamped[i]
		if !ok {
			continue
		}
		to := d.eng.States[i].Desired
		bound, limit := "max", eg.Max
		if to > from {
			bound, limit = "min", eg.Min
		}
		decisions = append(decisions, &model.Decision{
			Group: eg.Name, Time: now, Current: from, Desired: to, Min: eg.Min, Max: eg.Max,
			Direction: model.DirectionOf(from, to), Proposed: from, Decider: -1,
			Combined: model.Because("the configuration changed"),
			Steps: []model.Step{{Stage: model.StageClamp, From: from, To: to, Reason: model.Because(
				"capacity.%v is now %v: desired %v → %v", model.Str(bound), model.Int(limit), model.Int(from), model.Int(to))}},
		})
	}
	d.write(now, d.prepare(now, d.eng, decisions))
}

// hasProvider reports whether a group runs instances: local, or a provider
// kind.
func hasProvider(gc config.Group) bool { return gc.Provider.Local != nil || gc.Provider.Kind.IsSet() }

// fleetParts compiles a group's lifecycle and builds its provider: the
// local one, or a provider kind's (a provider.Capacity, or an instance
// provider).
func (d *Daemon) fleetParts(gc config.Group) (fleet.Spec, any, error) {
	spec, err := fleet.NewSpec(gc)
	if err != nil {
		return spec, nil, err
	}
	if l := gc.Provider.Local; l != nil {
		lc := local.Config{Command: l.Command, Env: l.Env, Dir: l.Dir, LogDir: filepath.Clean(l.LogDir), Grace: l.Grace.D(), Owner: d.owner()}
		if rg := gc.Lifecycle.Registry; rg != nil {
			// Where and as what the instance registers; its own env wins.
			lc.Env = map[string]string{EnvRegistryApp: rg.App, EnvInstanceID: "{{.ID}}"}
			maps.Copy(lc.Env, l.Env)
			lc.Environ = d.registryEnv
		}
		prov, err := local.New(lc)
		if err != nil {
			return spec, nil, fmt.Errorf("group %s: provider: %w", gc.Name, err)
		}
		return spec, prov, nil
	}
	k, ok := d.providerKind(gc.Provider.Kind.Kind)
	if !ok {
		return spec, nil, fmt.Errorf("group %s: provider %s is not built into this ebb", gc.Name, gc.Provider.Kind.Kind)
	}
	prov, err := k.Open(gc.Provider.Kind.Config, provider.Deps{Group: gc.Name, Clock: d.opt.Clock,
		Log: d.opt.Log.With("group", gc.Name, "provider", k.Name), Rand: rand.New(rand.NewPCG(d.rng.Uint64(), d.rng.Uint64()))})
	if err != nil {
		return spec, nil, err
	}
	return spec, prov, nil
}

// owner names this ebb's instances on the machine: its state file, made
// absolute, or its database. Two ebbs that share neither never adopt each
// other's local instances, whatever their groups are called.
func (d *Daemon) owner() string {
	p := d.st.Path()
	if strings.Contains(p, "://") {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// providerKind returns the registered provider kind named name.
func (d *Daemon) providerKind(name string) (provider.Kind, bool) {
	for _, k := range d.opt.Providers {
		if k.Name == name {
			return k, true
		}
	}
	return provider.Kind{}, false
}

func (d *Daemon) reconciler(gc config.Group) (*fleet.Reconciler, error) {
	spec, prov, err := d.fleetParts(gc)
	if err != nil {
		return nil, err
	}
	opt := fleet.Options{
		Clock: d.opt.Clock, Log: d.opt.Log, HTTP: d.http, Observe: d.metrics.provider(kindOf(gc)),
		Rand: rand.New(rand.NewPCG(d.rng.Uint64(), d.rng.Uint64())), Registry: d.reg,
	}
	switch p := prov.(type) {
	case provider.Capacity:
		return fleet.NewCapacity(spec, p, d.st, opt), nil
	case fleet.Provider:
		return fleet.New(spec, p, d.st, opt), nil
	}
	return nil, fmt.Errorf("group %s: provider %T is neither a capacity nor an instance provider", gc.Name, prov)
}

// Run runs the loops until ctx is done. It then returns without touching
// instances: they keep running, and the next ebb adopts them.
func (d *Daemon) Run(ctx context.Context, api http.Handler, listen func(http.Handler) error) error {
	if d.opt.Follow {
		return errors.New("a following daemon is run with Follow")
	}
	defer d.closeStore()
	defer d.closeSources()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if listen != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := listen(api); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case errc <- fmt.Errorf("api: %w", err):
				default:
				}
			}
		}()
	}
	// Adopt what runs but is not recorded before anything is decided or
	// launched, so that a lost state file never starts a second fleet.
	d.mu.Lock()
	recs := map[string]*fleet.Reconciler{}
	for name, g := range d.groups {
		if g.rec != nil {
			recs[name] = g.rec
		}
	}
	d.mu.Unlock()
	for name, rec := range recs {
		d.adopt(ctx, name, rec)
	}
	d.mu.Lock()
	d.startReconcilers(ctx, &wg)
	d.mu.Unlock()
	wg.Add(2)
	go func() { defer wg.Done(); d.watchConfig(ctx, &wg) }()
	go func() { defer wg.Done(); d.runEvictions(ctx) }()
	err := d.decideLoop(ctx, errc)
	wg.Wait()
	d.flush()
	return err
}

// startReconcilers starts a loop for every group that has a provider and
// no loop yet: one loop per group, ever, so two reconcilers never act on the
// same instances. d.mu held.
func (d *Daemon) startReconcilers(ctx context.Context, wg *sync.WaitGroup) {
	for name, g := range d.groups {
		if g.rec == nil || d.loops[name] {
			continue
		}
		d.loops[name] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.reconcileLoop(ctx, name)
		}()
	}
}

// adopt records the group's instances that run but are not in the state
// file (a lost or emptied file, a crash before a launch was recorded) and
// reports whether it could ask. A group ebb had no state for starts from
// the capacity it found running, not from its minimum: adopted instances
// are not scaled in for being unexpected.
func (d *Daemon) adopt(ctx context.Context, name string, rec *fleet.Reconciler) bool {
	d.mu.Lock()
	if d.adopted[name] {
		d.mu.Unlock()
		return true
	}
	d.mu.Unlock()
	insts, err := rec.Adopt(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.opt.Log.Error("adopt running instances failed", "group", name, "err", err)
		}
		return false
	}
	for _, in := range insts {
		d.opt.Log.Info("adopted an instance that runs but was not in the state file", "group", name, "instance", in.ID, "addr", in.Addr)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.adopted[name] = true
	if len(insts) == 0 {
		return true
	}
	if d.freshStore {
		d.opt.Log.Error("the state file was missing or empty, yet instances of this group were running: "+
			"they are adopted, but what else the lost file recorded (drains under way, suspensions, decisions) is gone; "+
			"if the file was lost by mistake, stop ebb and restore it",
			"group", name, "adopted", len(insts), "state_file", d.st.Path())
	}
	if g, ok := d.groups[name]; ok && g.fresh {
		eg, st := d.eng.Groups[g.index], d.eng.States[g.index]
		if st.Desired < len(insts) {
			from := st.Desired
			to := eg.SetDesired(st, d.opt.Clock.Now(), len(insts))
			d.opt.Log.Info("desired capacity set to the instances found running", "group", name, "from", from, "to", to)
		}
	}
	return true
}

// reconcileLoop reconciles one group until ctx is done or the group leaves
// the configuration. It takes the group's current reconciler each round, so
// a reload swaps it without a second loop.
func (d *Daemon) reconcileLoop(ctx context.Context, name string) {
	adopted := false
	for {
		d.mu.Lock()
		g, ok := d.groups[name]
		if !ok || g.rec == nil || ctx.Err() != nil {
			delete(d.loops, name)
			d.mu.Unlock()
			d.wakers.forget(name)
			return
		}
		rec, last := g.rec, d.eng.States[g.index].Desired
		d.mu.Unlock()

		if !adopted {
			adopted = d.adopt(ctx, name, rec)
		}
		st, err := d.reconcileGroup(ctx, name, rec, last)
		if err != nil && ctx.Err() == nil {
			d.opt.Log.Error("reconcile failed", "group", name, "err", err)
		}
		every := d.opt.ReconcileEvery
		if err == nil && st.Settled {
			every = d.opt.IdleEvery
		}
		if d.wakers.pause(ctx, d.opt.Clock, name, every) != nil {
			d.mu.Lock()
			delete(d.loops, name)
			d.mu.Unlock()
			d.wakers.forget(name)
			return
		}
	}
}

// reconcileGroup runs one reconcile of a group with rec, its reconciler,
// and keeps the status it reports. A desired count someone else set in a
// capacity provider's system is taken as the group's capacity. last is
// the desired capacity to use should the group leave the configuration
// meanwhile.
func (d *Daemon) reconcileGroup(ctx context.Context, name string, rec *fleet.Reconciler, last int) (fleet.Status, error) {
	// Read under the reconciler's lock (d.mu is not held here), so an
	// operator action that lowers desired under that lock is seen.
	desired := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		if g, ok := d.groups[name]; ok {
			return d.eng.States[g.index].Desired
		}
		return last
	}
	st, err := rec.Reconcile(ctx, desired)
	if err != nil {
		return st, err
	}
	if st.Outside != nil {
		d.takeOutside(name, *st.Outside)
	}
	d.mu.Lock()
	if g, ok := d.groups[name]; ok && g.rec == rec {
		if !slices.Equal(g.status.Conditions, st.Conditions) {
			d.changed.mark(name)
		}
		g.status = st
		d.noteCapacity(name, d.opt.Clock.Now())
	}
	d.mu.Unlock()
	return st, nil
}

// closeSources closes every open source, at the end of Run.
func (d *Daemon) closeSources() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.sources {
		_ = o.src.Close() // it only releases connections
	}
	d.sources = nil
}
