package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
	"github.com/google/go-cmp/cmp"
)

// sameAsRegistry fails unless the cache holds what the registry holds.
// Only the action types may differ: a delta brings later ones.
func sameAsRegistry(t *testing.T, c *registry.Client, e *eureka) {
	t.Helper()
	ignoreAction := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ActionType" }, cmp.Ignore())
	if d := cmp.Diff(e.reg.Applications(), c.Applications(), ignoreAction); d != "" {
		t.Fatalf("cache differs from the registry (-registry +cache):\n%s", d)
	}
}

func TestDeltasApplied(t *testing.T) {
	e := newEureka(t)
	e.register(t, "orders", "o1", server.StatusUp, 8080)
	e.register(t, "orders", "o2", server.StatusUp, 8080)
	e.register(t, "billing", "b1", server.StatusUp, 8080)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)
	sameAsRegistry(t, c, e)

	for i, change := range []func(now time.Time) error{
		func(time.Time) error { e.register(t, "orders", "o3", server.StatusUp, 8080); return nil }, // ADDED
		func(now time.Time) error { // MODIFIED
			return e.reg.SetStatusOverride(now, server.StatusRequest{App: "orders", ID: "o1", Status: server.StatusOutOfService})
		},
		func(now time.Time) error {
			return e.reg.UpdateMetadata(now, "orders", "o2", map[string]string{"zone": "b"})
		}, // MODIFIED
		func(now time.Time) error { return e.reg.Cancel(now, "billing", "b1") },                      // DELETED, the app goes
		func(time.Time) error { e.register(t, "search", "s1", server.StatusDown, 9090); return nil }, // a new app
		func(time.Time) error { return nil },                                                         // nothing
	} {
		e.clk.Advance(30 * time.Second)
		if err := change(e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		mustRefresh(t, c, registry.RefreshDelta)
		if t.Failed() {
			t.Fatalf("change %d", i)
		}
		sameAsRegistry(t, c, e)
	}
	if n := e.count("GET /apps"); n != 1 {
		t.Fatalf("%d full fetches, want 1: every delta should have matched", n)
	}
	if got := ids(c, "orders"); got != "o1=OUT_OF_SERVICE o2=UP o3=UP" {
		t.Fatalf("orders: %s", got)
	}
}

// TestHashMismatchFetchesWhole makes a change that no delta carries (it
// left the registry's delta window before the client asked): the delta
// leaves the cache's hash code different from the registry's, and the
// client fetches the whole registry.
func TestHashMismatchFetchesWhole(t *testing.T) {
	e := newEureka(t)
	e.register(t, "orders", "o1", server.StatusUp, 8080)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)

	e.clk.Advance(time.Minute)
	e.register(t, "orders", "o2", server.StatusUp, 8080)
	e.clk.Advance(server.DefaultDeltaRetention + time.Second) // the change leaves the delta
	mustRefresh(t, c, registry.RefreshFull)
	if d, f := e.count("GET /apps/delta"), e.count("GET /apps"); d != 1 || f != 2 {
		t.Fatalf("%d deltas and %d full fetches, want 1 and 2", d, f)
	}
	sameAsRegistry(t, c, e)
	mustRefresh(t, c, registry.RefreshDelta) // and deltas again after

	// A registry that serves no deltas is fetched whole every time.
	e.noDelta.Store(true)
	e.register(t, "orders", "o3", server.StatusUp, 8080)
	mustRefresh(t, c, registry.RefreshFull)
	sameAsRegistry(t, c, e)
}

func TestRoundRobinOverUPInstances(t *testing.T) {
	e := newEureka(t)
	for i, st := range []server.Status{server.StatusUp, server.StatusDown, server.StatusUp, server.StatusStarting, server.StatusUp, server.StatusOutOfService} {
		e.register(t, "orders", fmt.Sprintf("o%d", i), st, 8080+i)
	}
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)

	spread := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			in, err := c.Next("orders")
			if err != nil {
				t.Fatal(err)
			}
			got[in.ID()]++
		}
		return got
	}
	if d := cmp.Diff(map[string]int{"o0": 100, "o2": 100, "o4": 100}, spread(300)); d != "" {
		t.Fatalf("spread over UP instances (-want +got):\n%s", d)
	}

	// ebb drains o2: it goes OUT_OF_SERVICE, which the client sees at its
	// next refresh, not before.
	if err := e.reg.SetStatusOverride(e.clk.Now(), server.StatusRequest{App: "orders", ID: "o2", Status: server.StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	if got := spread(3); got["o2"] != 1 {
		t.Fatalf("before the refresh: %v", got)
	}
	e.clk.Advance(30 * time.Second)
	mustRefresh(t, c, registry.RefreshDelta)
	if d := cmp.Diff(map[string]int{"o0": 50, "o4": 50}, spread(100)); d != "" {
		t.Fatalf("spread after o2 went OUT_OF_SERVICE (-want +got):\n%s", d)
	}
	if _, err := c.Next("billing"); !errors.Is(err, registry.ErrNoInstance) {
		t.Fatalf("Next of an unknown app: %v, want ErrNoInstance", err)
	}
}

// TestRegistryDownCacheServes: while the registry is unreachable the cache
// keeps serving, refreshes report the failure, and the client recovers
// when the registry is back.
func TestRegistryDownCacheServes(t *testing.T) {
	e := newEureka(t)
	ctx := context.Background()
	e.register(t, "orders", "o1", server.StatusUp, 8080)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)

	e.down.Store(true)
	_, err := c.Refresh(ctx)
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("refresh with the registry down: %v, want ErrUnavailable", err)
	}
	var h *registry.HTTPError
	if !errors.As(err, &h) || h.StatusCode != 503 {
		t.Fatalf("refresh error does not carry the 503: %v", err)
	}
	if !errors.Is(c.Err(), registry.ErrUnavailable) {
		t.Fatalf("Err = %v, want the refresh's failure", c.Err())
	}
	if in, err := c.Next("orders"); err != nil || in.ID() != "o1" {
		t.Fatalf("Next from the cache: %v, %v", in.ID(), err)
	}

	e.down.Store(false)
	e.register(t, "orders", "o2", server.StatusUp, 8080)
	mustRefresh(t, c, registry.RefreshDelta)
	if err := c.Err(); err != nil {
		t.Fatalf("Err after recovery: %v", err)
	}
	if got := ids(c, "orders"); got != "o1=UP o2=UP" {
		t.Fatalf("after recovery: %s", got)
	}

	// A registry that never answered: nothing cached, the failure named.
	dead, _ := closedURL(t)
	c2 := newClient(t, registry.Options{Servers: []string{dead + "/eureka"}})
	if _, err := c2.Refresh(ctx); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("refresh from a dead registry: %v", err)
	}
	if _, err := c2.Next("orders"); !errors.Is(err, registry.ErrNoInstance) {
		t.Fatalf("Next with nothing cached: %v", err)
	}
}

func TestFailoverAcrossServers(t *testing.T) {
	dead, _ := closedURL(t)
	failing, good := newEureka(t), newEureka(t)
	failing.down.Store(true)
	good.register(t, "orders", "o1", server.StatusUp, 8080)
	ctx := context.Background()
	c := newClient(t, registry.Options{
		Servers:  []string{dead + "/eureka", failing.url, good.url},
		Instance: self("me", registry.StatusUp), Clock: good.clk,
	})
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := good.reg.Instance("orders", "me"); err != nil {
		t.Fatalf("not registered with the good server: %v", err)
	}
	if n := failing.count("POST /apps/ORDERS"); n != 1 {
		t.Fatalf("the failing server was asked %d times, want 1", n)
	}
	// The client stays with the server that answered.
	mustRefresh(t, c, registry.RefreshFull)
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(failing.calls); n != 1 {
		t.Fatalf("the failing server saw %v after the good one answered", failing.calls)
	}
	if got := ids(c, "orders"); got != "me=UP o1=UP" {
		t.Fatalf("cache: %s", got)
	}

	// When the good one fails too, every server is tried once, and the
	// error names each.
	good.down.Store(true)
	_, err := c.Refresh(ctx)
	if !errors.Is(err, registry.ErrUnavailable) || good.count("GET /apps/delta") != 1 || failing.count("GET /apps/delta") != 1 {
		t.Fatalf("all down: %v; good asked %d times, failing %d", err, good.count("GET /apps/delta"), failing.count("GET /apps/delta"))
	}
	for _, want := range []string{dead, failing.url, good.url} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}
