package demo

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// groupConfig is the demo's ebb configuration: one group of workers sized by
// the queue's backlog and the workers' utilization, scaling out at once and
// in slowly, draining with SIGUSR1 while a worker is busy.
func groupConfig(dir, queueURL, exe string, speed float64, env map[string]string) string {
	return fmt.Sprintf(`store: {path: %[1]q}
api: {listen: "127.0.0.1:0"}
groups:
  - name: workers
    capacity: {min: 1, max: 40}
    interval: 2s
    signals:
      queued: {http_json: {url: %[2]q, path: queued}, stale: 10s}
      in_flight: {http_json: {url: %[2]q, path: in_flight}, stale: 10s}
      backlog: {expr: "queued + in_flight"}
      busy: {scrape: {metric: ebb_worker_busy}, aggregate: sum, stale: 10s}
      utilization: {expr: 'avg(busy, "12s") / ready'}
    policies:
      # Scale out on the instant backlog, so a burst is met at once; hold
      # utilization at %[8]v: busy workers (scraped from each worker's
      # /metrics, summed, averaged over 12 s) per ready worker. Scale-in
      # needs both to agree.
      - name: backlog
        queue: {signal: backlog, per_instance: %[9]v}
      - name: utilization
        target: {signal: utilization, value: %[8]v}
    behavior:
      up: {limits: [{count: 8, per: 4s}, {percent: 100, per: 4s}]}
      down: {window: 20s, limits: [{percent: 25, per: 4s}]}
    provider:
      local:
        command: [%[3]q, worker, --queue, %[4]q, --listen, "127.0.0.1:{{.Port}}", --id, "{{.ID}}", --speed, %[5]q]
        env:%[6]s
        log_dir: %[7]q
        grace: 10s
    lifecycle:
      launch: {ready: {http: "http://{{.Addr}}/healthz", timeout: 2s}, timeout: 20s, max_concurrent: 10, backoff: {initial: 1s, max: 10s}}
      drain: {signal: SIGUSR1, busy: {http: "http://{{.Addr}}/v1/busy", path: busy}, heartbeat: 1s, timeout: 1m}
      health: {check: {http: "http://{{.Addr}}/healthz"}, grace: 5s}
`, dir+"/ebb.db", queueURL+"/v1/stats", exe, queueURL, strconv.FormatFloat(speed, 'f', -1, 64), envYAML(env), dir+"/logs", targetBusy, perInstance)
}

// cooldown is how long the demo goes on after the load stops, so capacity
// can be seen falling: longer than the scale-down window (20s) plus a few
// steps of the scale-in limit.
func cooldown(d time.Duration) time.Duration { return max(40*time.Second, d/4) }

// targetBusy is the share of workers the policies aim to keep busy; a
// fixed fleet for comparison is sized for the peak at the same utilization.
const targetBusy = 0.7

// perInstance is the jobs (waiting or being worked) per worker at which
// targetBusy of them are busy.
var perInstance = math.Round(100/targetBusy) / 100
