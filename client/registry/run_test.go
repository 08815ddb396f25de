package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
)

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRun drives Run's loop in a synctest bubble, where time.Sleep moves
// the bubble's fake clock as soon as every goroutine waits: the client's
// default wall clock, and the registry's, are that fake clock. The
// registry is served in memory, so nothing waits on a real socket.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, err := server.New(server.Config{})
		if err != nil {
			t.Fatal(err)
		}
		h := server.NewHandler(reg, clock.Real{}, "")
		var down atomic.Bool
		hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			rec := httptest.NewRecorder()
			if down.Load() {
				rec.WriteHeader(http.StatusServiceUnavailable)
			} else {
				h.ServeHTTP(rec, r)
			}
			return rec.Result(), nil
		})}
		c := newClient(t, registry.Options{Servers: []string{"http://registry/eureka"}, Instance: self("me", registry.StatusUp),
			HTTPClient: hc, Logger: slog.New(slog.DiscardHandler)})
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- c.Run(t.Context()) }()

		// At once: registered, and the cache fetched.
		synctest.Wait()
		if got := ids(c, "orders"); got != "me=UP" {
			t.Fatalf("after start the cache holds %q", got)
		}
		// Another instance joins; the refresh 30 s on brings it, and the
		// lease is renewed then.
		other := server.Instance{InstanceID: "o2", HostName: "o2", IPAddr: "10.0.0.2", Status: server.StatusUp,
			DataCenterInfo: server.DataCenterInfo{Name: server.DataCenterMyOwn}}
		if _, err := reg.Register(time.Now(), "orders", other); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := ids(c, "orders"); got != "me=UP o2=UP" {
			t.Fatalf("after 30 s the cache holds %q", got)
		}
		if in, _ := reg.Instance("orders", "me"); in.LeaseInfo.LastRenewalTimestamp != start.Add(30*time.Second).UnixMilli() {
			t.Fatalf("lease last renewed at %d, want at 30 s", in.LeaseInfo.LastRenewalTimestamp)
		}

		// The registry goes down: renewals and refreshes fail, Err says so,
		// the cache serves. Then it comes back, having forgotten everyone.
		down.Store(true)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if !errors.Is(c.Err(), registry.ErrUnavailable) {
			t.Fatalf("Err with the registry down: %v", c.Err())
		}
		if _, err := c.Next("orders"); err != nil {
			t.Fatalf("Next with the registry down: %v", err)
		}
		for _, id := range []string{"me", "o2"} {
			if err := reg.Cancel(time.Now(), "orders", id); err != nil {
				t.Fatal(err)
			}
		}
		down.Store(false)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if err := c.Err(); err != nil {
			t.Fatalf("Err after the registry came back: %v", err)
		}
		if _, err := reg.Instance("orders", "me"); err != nil {
			t.Fatalf("not registered again after the registry forgot: %v", err)
		}

		// Close stops Run and cancels the lease.
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run after Close returned %v", err)
		}
		if _, err := reg.Instance("orders", "me"); !errors.Is(err, server.ErrNotFound) {
			t.Fatalf("still registered after Close: %v", err)
		}
		if err := c.Run(t.Context()); !errors.Is(err, registry.ErrClosed) {
			t.Fatalf("Run after Close: %v", err)
		}
	})
}

func TestRunStopsWithItsContext(t *testing.T) {
	e := newEureka(t)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Instance: self("me", registry.StatusUp),
		Logger: slog.New(slog.DiscardHandler), Clock: e.clk})
	sleeps := e.clk.Notify(2)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-sleeps // both loops did their first step and wait
	<-sleeps
	if _, err := e.reg.Instance("orders", "me"); err != nil {
		t.Fatalf("Run did not register: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if _, err := e.reg.Instance("orders", "me"); err != nil {
		t.Fatalf("the lease is Close's to cancel, not Run's: %v", err)
	}
}
