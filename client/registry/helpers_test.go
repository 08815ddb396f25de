package registry_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// eureka is ebb's registry server on loopback, on a fake clock, behind a
// wrapper that counts requests and can fail them.
type eureka struct {
	reg  *server.Registry
	clk  *clock.Fake
	http *httptest.Server
	url  string // base URL, prefix included

	down    atomic.Bool // answer every request 503
	noDelta atomic.Bool // answer GET /apps/delta 403, as Eureka with deltas disabled
	mu      sync.Mutex
	calls   map[string]int // "GET /apps" → count
}

func newEureka(t *testing.T) *eureka {
	t.Helper()
	reg, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := &eureka{reg: reg, clk: clock.NewFake(t0), calls: map[string]int{}}
	h := server.NewHandler(reg, e.clk, "")
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.calls[r.Method+" "+strings.TrimPrefix(r.URL.Path, server.DefaultPrefix)]++
		e.mu.Unlock()
		if e.down.Load() {
			http.Error(w, "registry unavailable", http.StatusServiceUnavailable)
			return
		}
		if e.noDelta.Load() && strings.HasSuffix(r.URL.Path, "/apps/delta") {
			http.Error(w, "delta disabled", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.http.Close)
	e.url = e.http.URL + server.DefaultPrefix
	return e
}

// count returns how many requests of "METHOD /path" the server saw.
func (e *eureka) count(call string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[call]
}

// register puts an instance straight into the registry, as another client
// would.
func (e *eureka) register(t *testing.T, app, id string, st server.Status, port int) {
	t.Helper()
	in := server.Instance{
		InstanceID: id, HostName: id + ".local", App: app, IPAddr: "127.0.0.1", Status: st,
		Port: server.Port{Number: port, Enabled: true}, DataCenterInfo: server.DataCenterInfo{Name: server.DataCenterMyOwn},
	}
	if _, err := e.reg.Register(e.clk.Now(), app, in); err != nil {
		t.Fatal(err)
	}
}

func self(id string, st registry.Status) *registry.Instance {
	return &registry.Instance{
		InstanceID: id, HostName: id + ".local", App: "orders", IPAddr: "127.0.0.1", Status: st,
		Port: registry.Port{Number: 8080, Enabled: true}, VIPAddress: "orders",
	}
}

func newClient(t *testing.T, opts registry.Options) *registry.Client {
	t.Helper()
	c, err := registry.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedURL is an http URL nothing listens at.
func closedURL(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return "http://" + ln.Addr().String(), port
}

func mustRefresh(t *testing.T, c *registry.Client, want registry.RefreshKind) {
	t.Helper()
	kind, err := c.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if kind != want {
		t.Fatalf("refresh was %v, want %v", kind, want)
	}
}

// ids returns the cached instances' ids and statuses of app: "a=UP b=DOWN".
func ids(c *registry.Client, app string) string {
	var out []string
	for _, in := range c.Instances(app) {
		out = append(out, in.ID()+"="+string(in.Status))
	}
	return strings.Join(out, " ")
}

// registered returns a client whose instance o1 of ORDERS, in status st, is
// registered with e and in the client's cache.
func registered(t *testing.T, e *eureka, st registry.Status) *registry.Client {
	t.Helper()
	c := newClient(t, registry.Options{Servers: []string{e.url}, Instance: self("o1", st), Clock: e.clk})
	if err := c.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRefresh(t, c, registry.RefreshFull)
	return c
}

// startRegistry starts ebb's registry on loopback for the example, and
// returns its base URL and a function that stops it. It lives here so that
// the example's file, which godoc shows, uses only the public client.
func startRegistry() (string, func()) {
	reg, err := server.New(server.Config{})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(server.NewHandler(reg, clock.Real{}, ""))
	return srv.URL + server.DefaultPrefix, srv.Close
}

// portOf is the port of an httptest server's URL, enabled.
func portOf(rawURL string) registry.Port {
	var port int
	fmt.Sscanf(rawURL, "http://127.0.0.1:%d", &port)
	return registry.Port{Number: port, Enabled: true}
}
