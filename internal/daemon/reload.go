package daemon

import (
	"context"
	"os"
	"sync"

	"github.com/ebb-autoscaler/ebb/internal/engine"
)

// Reload asks the daemon to re-read its configuration (SIGHUP).
func (d *Daemon) Reload() {
	select {
	case d.reload <- struct{}{}:
	default: // one is pending already
	}
}

// watchConfig reloads on request and when the file's modification time
// changes.
func (d *Daemon) watchConfig(ctx context.Context, wg *sync.WaitGroup) {
	wake := make(chan struct{}, 1)
	go func() {
		for d.opt.Clock.Sleep(ctx, d.opt.ReloadEvery) == nil {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.reload:
			d.reloadNow(ctx, wg)
		case <-wake:
			fi, err := os.Stat(d.opt.ConfigPath)
			d.mu.Lock()
			changed := err == nil && !fi.ModTime().Equal(d.modTime)
			d.mu.Unlock()
			if changed {
				d.reloadNow(ctx, wg)
			}
		}
	}
}

// reloadNow swaps in the file's configuration if it is valid; otherwise it
// logs every problem and keeps the running one.
func (d *Daemon) reloadNow(ctx context.Context, wg *sync.WaitGroup) {
	cfg, mod, err := loadFile(d.opt.ConfigPath)
	if err == nil {
		var eng *engine.Engine
		if eng, err = engine.New(cfg); err == nil {
			d.mu.Lock()
			if cfg.Store.Path != d.cfg.Store.Path || cfg.API.Listen != d.cfg.API.Listen {
				d.opt.Log.Warn("store.path and api.listen changes take effect at the next start")
			}
			err = d.install(cfg, eng, mod)
			if err == nil {
				d.startReconcilers(ctx, wg)
				d.metrics.reloads++
			}
			d.mu.Unlock()
		}
	}
	if err != nil {
		d.mu.Lock()
		d.metrics.reloadFailures++
		if fi, serr := os.Stat(d.opt.ConfigPath); serr == nil {
			d.modTime = fi.ModTime() // do not retry the same bad file every poll
		}
		d.mu.Unlock()
		d.opt.Log.Error("config reload rejected; keeping the running config", "path", d.opt.ConfigPath, "err", err)
		return
	}
	d.opt.Log.Info("config reloaded", "path", d.opt.ConfigPath)
}
