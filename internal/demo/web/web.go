// Package web is the instance of the registry demo's web service (ebb web,
// which ebb launches): an HTTP server that answers GET /work after a
// service time, registered in ebb's registry under the app and instance ID
// its launch environment gives it, through ebb's public registry client.
// It registers as UP once it listens, renews its lease, and on SIGTERM
// stops gracefully: it finishes the requests it holds, cancels
// its registration and exits.
package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// Config configures an instance.
type Config struct {
	// Listen is the address to serve on; Listener, when set, is used
	// instead.
	Listen   string
	Listener net.Listener
	// Registry is the registry's base URL (http://127.0.0.1:7070/eureka);
	// App and ID are what the instance registers as.
	Registry, App, ID string
	// Service is how long each request takes (default 20ms).
	Service time.Duration
	// Renew is the lease renewal interval (default 30s); Lease the lease
	// duration asked for (0: the registry's).
	Renew, Lease time.Duration
	// Stop, when closed, starts the graceful stop.
	Stop   <-chan struct{}
	Logger *slog.Logger
}

func (c Config) validate() error {
	var errs []error
	if c.Registry == "" || c.App == "" || c.ID == "" {
		errs = append(errs, errors.New("the registry URL, app and instance ID are required (EBB_REGISTRY_URL, EBB_REGISTRY_APP, EBB_INSTANCE_ID, which ebb sets for groups with lifecycle.registry)"))
	}
	if c.Service < 0 || c.Renew < 0 || c.Lease < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}

// Run serves until ctx ends (an abrupt stop: nothing is cancelled, the
// lease lapses) or Stop is closed (a graceful one).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Service = cmp.Or(cfg.Service, 20*time.Millisecond)
	log := cmp.Or(cfg.Logger, slog.Default())
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	host, portText, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portText)

	var served, inFlight, lastRequest atomic.Int64 // lastRequest: Unix ns
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		lastRequest.Store(time.Now().UnixNano())
		if err := (clock.Real{}).Sleep(r.Context(), cfg.Service); err != nil {
			return
		}
		served.Add(1)
		fmt.Fprintln(w, cfg.ID)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	lease := registry.LeaseInfo{}
	if cfg.Lease > 0 {
		lease.DurationInSecs = int(cfg.Lease / time.Second)
	}
	rc, err := registry.New(registry.Options{
		Servers: []string{cfg.Registry},
		Instance: &registry.Instance{App: cfg.App, InstanceID: cfg.ID, HostName: host, IPAddr: host,
			Port: registry.Port{Number: port, Enabled: true}, Status: registry.StatusUp, LeaseInfo: lease},
		RenewalInterval: cfg.Renew, FetchInterval: time.Hour, // it calls no other app
		Timeout: 5 * time.Second, Logger: log,
	})
	if err != nil {
		srv.Close()
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go rc.Run(runCtx) // listening already: registers UP, then renews (registering again if refused)
	log.Info("serving", "addr", ln.Addr().String(), "app", cfg.App, "instance", cfg.ID)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		srv.Close()
		return ctx.Err()
	case <-cfg.Stop:
	}
	stopped := time.Now()
	// Finish what is in hand; a request that comes now finds the listener
	// closed and its client tries another instance.
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held := inFlight.Load()
	err = srv.Shutdown(sctx)
	err = errors.Join(err, rc.Close(sctx))
	last := "none"
	if ns := lastRequest.Load(); ns != 0 {
		last = time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	log.Info("stopped", "served", served.Load(), "last_request", last, "in_flight_at_stop", held, "stop_took", time.Since(stopped).Round(time.Millisecond))
	return err
}
