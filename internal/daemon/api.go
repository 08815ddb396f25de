package daemon

import (
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
)

// API is the configured api: section: where and how ebb run serves the API.
func (d *Daemon) API() config.API {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.API
}

// Clock is the daemon's clock, for what paces itself by it (the API's event
// stream).
func (d *Daemon) Clock() clock.Clock { return d.opt.Clock }
