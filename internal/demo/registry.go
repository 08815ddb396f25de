package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

// The registry demo's numbers. A client refreshes its cached registry every
// clientRefresh; ebb waits registryRefresh after taking an instance
// OUT_OF_SERVICE, longer than a refresh plus a request, before it stops
// the instance.
const (
	clientRefresh   = time.Second
	registryRefresh = 3 * time.Second
	perWebInstance  = 25 // requests/s an instance is sized for
	basePerSec      = 10
)

// RegistrySummary is what a registry demo run did. JSON field names are
// the demo's contract.
type RegistrySummary struct {
	Seconds float64 `json:"seconds"`
	// Requests were sent, each to an instance the client chose from its
	// cached registry; Failed got no answer from any instance.
	Requests int64 `json:"requests"`
	Failed   int64 `json:"requests_failed"`
	// RefusedAttempts are tries that reached an instance that was gone or
	// failing, which the client then sent elsewhere: none, when every
	// instance leaves the clients' caches before it stops.
	RefusedAttempts int64   `json:"refused_attempts"`
	LatencyP99MS    float64 `json:"latency_p99_ms"`
	PeakInstances   int     `json:"peak_instances"`
	FinalInstances  int     `json:"final_instances"`
	Launched        int     `json:"instances_launched"`
	Drained         int     `json:"instances_drained"`
}

// registryConfig is the registry demo's ebb configuration: a web service
// sized by its request rate, whose instances register in ebb's registry.
func registryConfig(dir, exe string, env map[string]string) string {
	return fmt.Sprintf(`store: {path: %[1]q}
api: {listen: "127.0.0.1:0"}
registry: {renewal_interval: 5s, lease_duration: 15s, eviction_interval: 5s}
groups:
  - name: web
    capacity: {min: 1, max: 10}
    interval: 1s
    signals:
      rps: {stale: 10s}
    policies:
      - name: rps
        queue: {signal: rps, per_instance: %[4]d}
    behavior:
      up: {limits: [{count: 4, per: 2s}]}
      down: {window: 8s, limits: [{count: 1, per: 3s}]}
    provider:
      local:
        command: [%[2]q, web, --listen, "127.0.0.1:{{.Port}}", --renew, 5s, --lease, 15s]
        env:%[3]s
        log_dir: %[5]q
        grace: 10s
    lifecycle:
      # Registered, ready once UP; drained by OUT_OF_SERVICE, then, after
      # the clients' refresh, SIGTERM: the instance finishes its requests,
      # cancels its registration and exits.
      registry: {app: web, refresh: %[6]s}
      launch: {timeout: 20s, max_concurrent: 10, backoff: {initial: 1s, max: 10s}}
      drain: {grace: 30s, heartbeat: 1s}
      health: {grace: 5s}
`, filepath.Join(dir, "ebb.db"), exe, envYAML(env), perWebInstance, filepath.Join(dir, "logs"), registryRefresh)
}

// rateAt is the demo's load at t of d: a base, a ramp to peak over the
// first 30%, a plateau, a ramp down over the next 30%, the base again.
func rateAt(t, d time.Duration, peak float64) float64 {
	x := float64(t) / float64(d)
	shape := 0.0
	switch {
	case x < 0.3:
		shape = x / 0.3
	case x < 0.5:
		shape = 1
	case x < 0.8:
		shape = (0.8 - x) / 0.3
	}
	return basePerSec + (peak-basePerSec)*shape
}

// RunRegistry runs the registry demo: ebb scales a web service whose
// instances register in its registry, while a client that balances over
// them from its cached registry sends a rising and falling load; every
// scale-in takes an instance out of rotation before stopping it, so no
// request fails. It stops every process it started.
func RunRegistry(ctx context.Context, opt Options) (RegistrySummary, error) {
	if opt.Duration <= 0 {
		opt.Duration = time.Minute
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	var sum RegistrySummary
	api, addr, stopEbb, err := startDemoEbb(opt, registryConfig(opt.Dir, opt.Executable, opt.Env))
	if err != nil {
		return sum, err
	}

	var refused atomic.Int64
	rc, err := registry.New(registry.Options{
		Servers:       []string{"http://" + addr + "/eureka"},
		FetchInterval: clientRefresh, Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: countRefused{next: http.DefaultTransport, refused: &refused}},
	})
	if err != nil {
		stopEbb()
		return sum, err
	}
	clientCtx, stopClient := context.WithCancel(ctx)
	defer stopClient()
	go rc.Run(clientCtx)

	// The load starts once the first instance serves, as a service's
	// traffic would once it is deployed.
	for len(rc.Instances("web")) == 0 {
		if err := (clock.Real{}).Sleep(ctx, 100*time.Millisecond); err != nil {
			stopEbb()
			return sum, err
		}
		if _, err := rc.Refresh(ctx); err != nil {
			opt.Out.Write([]byte("waiting for the registry: " + err.Error() + "\n"))
		}
	}
	peak := float64(perWebInstance * 8)
	fmt.Fprintf(opt.Out, "ebb demo registry: a web service behind ebb's registry, %d → %.0f → %d requests/s over %s; "+
		"clients refresh every %s, ebb waits %s after OUT_OF_SERVICE before stopping an instance\n",
		basePerSec, peak, basePerSec, opt.Duration, clientRefresh, registryRefresh)
	v := &view{out: opt.Out, live: opt.Live, minAfterPeak: math.MaxInt}
	g := &generator{rc: rc}
	start := time.Now()
	v.start = start
	err = g.run(ctx, opt.Duration+cooldown(opt.Duration), func(t time.Duration) float64 {
		if t >= opt.Duration {
			return basePerSec // the cool-down: scale-in under load
		}
		return rateAt(t, opt.Duration, peak)
	}, func(rate float64) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		api.Push(pctx, "web", time.Now(), map[string]float64{"rps": rate})
		cancel()
		v.sampleWeb(ctx, api, rate, g)
	})
	v.finish()
	stopClient()
	stopEbb()

	sum.Seconds = time.Since(start).Seconds()
	sum.Requests, sum.Failed, sum.RefusedAttempts = g.sent.Load(), g.failed.Load(), refused.Load()
	sum.LatencyP99MS = g.p99()
	sum.PeakInstances, sum.FinalInstances = v.peak, v.last
	procs, err2 := instancesOf(filepath.Join(opt.Dir, "ebb.db"), "web")
	err3 := stopInstances(opt.Executable, procs, syscall.SIGTERM)
	for _, in := range procs {
		sum.Launched++
		if in.Reason == "exited after draining" {
			sum.Drained++
		}
	}
	return sum, errors.Join(ignoreCancel(err), err2, err3)
}

// countRefused counts the requests to instances (not to the registry)
// that failed or were answered with a 5xx.
type countRefused struct {
	next    http.RoundTripper
	refused *atomic.Int64
}

func (c countRefused) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if r.URL.Path == "/work" && (err != nil || resp.StatusCode >= 500) {
		c.refused.Add(1)
	}
	return resp, err
}

// generator sends requests at a rate through the registry client.
type generator struct {
	rc           *registry.Client
	sent, failed atomic.Int64
	mu           sync.Mutex
	latencies    []time.Duration
}

// run sends rate(t) requests a second for total, each in its own goroutine
// (at most 512 at once), calling every once a second with the rate just
// sent.
func (g *generator) run(ctx context.Context, total time.Duration, rate func(time.Duration) float64, every func(float64)) error {
	const tick = 10 * time.Millisecond
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	owed, lastSecond := 0.0, time.Duration(0)
	for t := time.Duration(0); t < total; t = time.Since(start) {
		r := rate(t)
		owed += r * tick.Seconds()
		for ; owed >= 1; owed-- {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				g.one(ctx)
			}()
		}
		if t-lastSecond >= time.Second {
			lastSecond = t
			every(r)
		}
		if err := (clock.Real{}).Sleep(ctx, tick); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) one(ctx context.Context) {
	g.sent.Add(1)
	began := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := g.rc.Do(rctx, "web", registry.Request{Path: "/work"})
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			g.failed.Add(1)
		}
		return
	}
	g.mu.Lock()
	g.latencies = append(g.latencies, time.Since(began))
	g.mu.Unlock()
}

func (g *generator) p99() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.latencies) == 0 {
		return 0
	}
	sort.Slice(g.latencies, func(i, j int) bool { return g.latencies[i] < g.latencies[j] })
	return float64(g.latencies[len(g.latencies)*99/100]) / float64(time.Millisecond)
}

// sampleWeb shows the web group and the client's counts.
func (v *view) sampleWeb(ctx context.Context, api *client.Client, rate float64, g *generator) {
	var gv daemon.GroupView
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := api.Group(cctx, "web", &gv)
	cancel()
	if err != nil || gv.Fleet == nil {
		v.show(fmt.Sprintf("%5.0fs  waiting for ebb: %v", time.Since(v.start).Seconds(), err))
		return
	}
	ready := gv.Fleet.InService
	v.last = ready
	if ready > v.peak {
		v.peak, v.minAfterPeak = ready, ready
	}
	v.minAfterPeak = min(v.minAfterPeak, ready)
	v.show(fmt.Sprintf("%5.0fs  requests %3.0f/s  sent %6d failed %d  instances ready %2d launching %2d draining %2d  desired %2d",
		time.Since(v.start).Seconds(), rate, g.sent.Load(), g.failed.Load(), ready, gv.Fleet.Launching, gv.Fleet.Draining, gv.Desired))
}

// WriteRegistrySummary prints a registry demo's summary.
func WriteRegistrySummary(w io.Writer, s RegistrySummary) {
	fmt.Fprintf(w, `
summary (%.0f s)
  requests    %d sent, %d failed, %d tries refused by an instance (p99 %.0f ms)
  instances   peak %d, at the end %d; %d launched, %d drained
`, s.Seconds, s.Requests, s.Failed, s.RefusedAttempts, s.LatencyP99MS, s.PeakInstances, s.FinalInstances, s.Launched, s.Drained)
}
