package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
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
	// ReconcileEvery is how often each group's fleet is reconciled
	// (default 1s).
	ReconcileEvery time.Duration
	// ReloadEvery is how often the config file is checked for changes
	// (default 2s).
	ReloadEvery time.Duration
	// Seed seeds instance IDs and jitter; 0 picks one from the clock.
	Seed uint64
}

// Daemon is a running ebb.
type Daemon struct {
	opt  Options
	st   *store.Store
	push *source.Push
	http *http.Client
	rng  *rand.Rand

	mu      sync.Mutex // guards what follows
	cfg     *config.File
	eng     *engine.Engine
	groups  map[string]*group
	last    map[string]model.Decision
	ready   bool
	loops   map[string]bool // groups with a running reconcile loop
	modTime time.Time
	reload  chan struct{}
	metrics metrics
}

// group is one group's runtime.
type group struct {
	cfg    config.Group
	index  int // in the engine
	rec    *fleet.Reconciler
	status fleet.Status
	urls   map[string]*template.Template // scrape and http_json URLs, by signal
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
	if opt.ReloadEvery <= 0 {
		opt.ReloadEvery = 2 * time.Second
	}
	if opt.Seed == 0 {
		opt.Seed = uint64(opt.Clock.Now().UnixNano())
	}
	opt.Log.Debug("random seed", "seed", opt.Seed)
	cfg, mod, err := loadFile(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt.ConfigPath, err)
	}
	if opt.Token == "" {
		if opt.Token, err = readToken(cfg.API.TokenFile); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(cfg.Store.Path, store.Options{
		JournalMax: cfg.Store.JournalMax, JournalAge: cfg.Store.JournalAge.D(), SignalAge: cfg.Store.SignalAge.D(),
	})
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opt: opt, st: st, push: source.NewPush(),
		http:   &http.Client{Timeout: 30 * time.Second},
		rng:    rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)),
		groups: map[string]*group{}, last: map[string]model.Decision{}, loops: map[string]bool{},
		reload: make(chan struct{}, 1),
	}
	if err := d.install(cfg, eng, mod); err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

func loadFile(path string) (*config.File, time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	return cfg, fi.ModTime(), nil
}

func readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("EBB_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read api token: %s is empty", file)
	}
	return tok, nil
}

// install makes cfg and eng current: each group's engine memory is carried
// over (from the running engine, else from the store) and its reconciler
// built. Nothing is changed unless every group builds.
func (d *Daemon) install(cfg *config.File, eng *engine.Engine, mod time.Time) error {
	groups := map[string]*group{}
	for i, gc := range cfg.Groups {
		g := &group{cfg: gc, index: i, urls: map[string]*template.Template{}}
		for name, sc := range gc.Signals {
			url := ""
			switch {
			case sc.Scrape != nil:
				url = sc.Scrape.URL
			case sc.HTTPJSON != nil:
				url = sc.HTTPJSON.URL
			default:
				continue
			}
			t, err := config.ParseTemplate(gc.Name+"."+name, url)
			if err != nil {
				return err
			}
			g.urls[name] = t
		}
		if old, ok := d.groups[gc.Name]; ok {
			g.status = old.status
			if reflect.DeepEqual(old.cfg.Provider, gc.Provider) && reflect.DeepEqual(old.cfg.Lifecycle, gc.Lifecycle) {
				g.rec = old.rec // unchanged: keep its backoff and health counts
			}
		}
		if gc.Provider.Local != nil && g.rec == nil {
			rec, err := d.reconciler(gc)
			if err != nil {
				return err
			}
			g.rec = rec
		}
		groups[gc.Name] = g
	}
	// Memories: the running engine's where the group existed, else the
	// store's (a restart).
	for i, g := range eng.Groups {
		if d.eng != nil {
			if old, ok := d.groups[g.Name]; ok {
				g.Restore(eng.States[i], d.eng.States[old.index].Memory())
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
			return fmt.Errorf("read state of %s: %w", g.Name, err)
		}
		if found && len(gs.Engine) > 0 {
			var m engine.Memory
			if err := json.Unmarshal(gs.Engine, &m); err != nil {
				d.opt.Log.Warn("engine memory unreadable; starting afresh", "group", g.Name, "err", err)
				continue
			}
			g.Restore(eng.States[i], m)
		}
	}
	// A group removed from the config keeps its instances; its reconcile
	// loop sees it gone and stops.
	d.cfg, d.eng, d.groups, d.modTime = cfg, eng, groups, mod
	return nil
}

func (d *Daemon) reconciler(gc config.Group) (*fleet.Reconciler, error) {
	spec, err := fleet.NewSpec(gc)
	if err != nil {
		return nil, err
	}
	l := gc.Provider.Local
	prov, err := local.New(local.Config{
		Command: l.Command, Env: l.Env, Dir: l.Dir,
		LogDir: filepath.Clean(l.LogDir), Grace: l.Grace.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("group %s: provider: %w", gc.Name, err)
	}
	return fleet.New(spec, prov, d.st, fleet.Options{
		Clock: d.opt.Clock, Log: d.opt.Log, HTTP: d.http,
		Rand: rand.New(rand.NewPCG(d.rng.Uint64(), d.rng.Uint64())),
	}), nil
}

// Run runs the loops until ctx is done. It then returns without touching
// instances: they keep running, and the next ebb adopts them.
func (d *Daemon) Run(ctx context.Context, api http.Handler, listen func(http.Handler) error) error {
	defer d.st.Close()
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
	d.mu.Lock()
	d.startReconcilers(ctx, &wg)
	d.mu.Unlock()
	wg.Add(1)
	go func() { defer wg.Done(); d.watchConfig(ctx, &wg) }()
	err := d.decideLoop(ctx, errc)
	wg.Wait()
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

// reconcileLoop reconciles one group until ctx is done or the group leaves
// the configuration. It takes the group's current reconciler each round, so
// a reload swaps it without a second loop.
func (d *Daemon) reconcileLoop(ctx context.Context, name string) {
	for {
		d.mu.Lock()
		g, ok := d.groups[name]
		if !ok || g.rec == nil || ctx.Err() != nil {
			delete(d.loops, name)
			d.mu.Unlock()
			return
		}
		rec, desired := g.rec, d.eng.States[g.index].Desired
		d.mu.Unlock()

		st, err := rec.Reconcile(ctx, desired)
		if err != nil && ctx.Err() == nil {
			d.opt.Log.Error("reconcile failed", "group", name, "err", err)
		}
		if err == nil {
			d.mu.Lock()
			if g, ok := d.groups[name]; ok && g.rec == rec {
				g.status = st
			}
			d.mu.Unlock()
		}
		if d.opt.Clock.Sleep(ctx, d.opt.ReconcileEvery) != nil {
			d.mu.Lock()
			delete(d.loops, name)
			d.mu.Unlock()
			return
		}
	}
}
