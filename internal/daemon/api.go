package daemon

import "github.com/ebb-autoscaler/ebb/internal/config"

// API is the configured api: section: where and how ebb run serves the API.
func (d *Daemon) API() config.API {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.API
}
