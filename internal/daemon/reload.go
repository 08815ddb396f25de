package daemon

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
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

// reloadNow swaps in the file's configuration if it is valid. An invalid
// file is logged once and the running configuration kept until the file
// changes again; a file that could not be read (a transient error, an
// editor's rename in progress) is tried again at the next poll.
func (d *Daemon) reloadNow(ctx context.Context, wg *sync.WaitGroup) {
	l, err := d.load()
	if err == nil {
		d.mu.Lock()
		if l.cfg.Store.Path != d.cfg.Store.Path || !reflect.DeepEqual(l.cfg.Store.Postgres, d.cfg.Store.Postgres) || l.cfg.API.Listen != d.cfg.API.Listen {
			d.opt.Log.Warn("store and api.listen changes take effect at the next start")
		}
		if l.cfg.Registry != d.cfg.Registry {
			d.opt.Log.Warn("registry changes (leases, evictions, self-preservation) take effect at the next start")
		}
		tokenChanged := l.token != d.token
		var updates []recUpdate
		updates, err = d.install(l)
		if err == nil {
			d.startReconcilers(ctx, wg)
			d.rejected = ""
			d.metrics.reloaded(nil)
		}
		d.mu.Unlock()
		for _, u := range updates {
			if uerr := u.rec.Update(u.spec, u.prov); uerr != nil {
				d.opt.Log.Error("update a group's lifecycle", "err", uerr)
			}
		}
		if err == nil {
			d.wakers.wakeAll()
			d.opt.Log.Info("config reloaded", "path", d.opt.ConfigPath)
			if tokenChanged {
				d.opt.Log.Info("api token changed", "token_file", l.cfg.API.TokenFile)
			}
			return
		}
	}
	var rerr errRead
	d.mu.Lock()
	defer d.mu.Unlock()
	if errors.As(err, &rerr) {
		// Not seen: the next poll reads it again.
		if d.unreadable != err.Error() {
			d.opt.Log.Warn("config reload: cannot read the file; trying again", "path", d.opt.ConfigPath, "err", err)
		}
		d.unreadable = err.Error()
		return
	}
	d.unreadable = ""
	if l.mod.IsZero() {
		if fi, serr := os.Stat(d.opt.ConfigPath); serr == nil {
			l.mod = fi.ModTime()
		}
	}
	d.modTime = l.mod // do not retry the same bad file every poll
	if err.Error() != d.rejected {
		d.metrics.reloaded(err)
		d.opt.Log.Error("config reload rejected; keeping the running config", "path", d.opt.ConfigPath, "err", err)
	}
	d.rejected = err.Error()
}
