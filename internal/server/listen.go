package server

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/net/netutil"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Listen listens on api.Listen and returns the server ebb run serves the API
// with: api's read, write and idle timeouts, and a listener that lets at most
// api.MaxConnections connections in at once (the rest wait in the kernel's
// accept queue until one closes), so idle or slow clients cannot take all of
// the daemon's file descriptors. The caller sets the server's Handler and
// calls Serve with the listener.
func Listen(api config.API) (*http.Server, net.Listener, error) {
	if api.MaxConnections < 1 {
		return nil, nil, fmt.Errorf("api on %s: max connections %d: must be ≥ 1", api.Listen, api.MaxConnections)
	}
	ln, err := net.Listen("tcp", api.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("api: %w", err) // net's error says "listen tcp ADDR"
	}
	stopping, stop := context.WithCancel(context.Background())
	srv := &http.Server{
		ReadHeaderTimeout: api.ReadHeaderTimeout.D(),
		ReadTimeout:       api.ReadTimeout.D(),
		WriteTimeout:      api.WriteTimeout.D(),
		IdleTimeout:       api.IdleTimeout.D(),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stoppingKey{}, stopping)
		},
	}
	// Shutdown waits for requests in flight; an event stream never ends
	// by itself, so it is told to (stoppingOf).
	srv.RegisterOnShutdown(stop)
	return srv, netutil.LimitListener(ln, api.MaxConnections), nil
}

// stoppingKey holds, in a request's context, a context done once the
// server shuts down.
type stoppingKey struct{}

// stoppingOf is done once the server that took r shuts down; nil for a
// server Listen did not make.
func stoppingOf(r *http.Request) context.Context {
	c, _ := r.Context().Value(stoppingKey{}).(context.Context)
	return c
}
