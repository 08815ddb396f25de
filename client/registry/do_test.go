package registry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"

	"github.com/ebb-autoscaler/ebb/client/registry"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
	"github.com/google/go-cmp/cmp"
)

// backends are instances of an app on loopback, each answering with a
// fixed status code, and counting what they got.
type backends struct {
	mu   sync.Mutex
	hits map[string]int // instance id → requests
}

// serve starts an instance answering code, and registers it as id.
func (b *backends) serve(t *testing.T, e *eureka, id string, code int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.hits[id]++
		b.mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, id+" got "+r.Method+" "+r.URL.Path+" "+string(body)+" "+r.Header.Get("X-Test"))
	}))
	t.Cleanup(srv.Close)
	e.register(t, "orders", id, server.StatusUp, srv.Listener.Addr().(*net.TCPAddr).Port)
}

// dead registers id at a port nothing listens on.
func (b *backends) dead(t *testing.T, e *eureka, id string) {
	t.Helper()
	_, port := closedURL(t)
	e.register(t, "orders", id, server.StatusUp, port)
}

func (b *backends) got() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.hits {
		out[k] = v
	}
	b.hits = map[string]int{}
	return out
}

func TestDoTriesAnotherInstance(t *testing.T) {
	e := newEureka(t)
	b := &backends{hits: map[string]int{}}
	b.dead(t, e, "a-dead")
	b.serve(t, e, "b-5xx", http.StatusBadGateway)
	b.serve(t, e, "c-ok", http.StatusOK)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)
	ctx := context.Background()

	// Round-robin starts at a-dead: it cannot connect, b answers 502, c
	// serves. The body and headers reach c whole.
	resp, err := c.Do(ctx, "orders", registry.Request{Method: "POST", Path: "/orders", Body: []byte("{}"), Header: http.Header{"X-Test": {"yes"}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "c-ok got POST /orders {} yes" {
		t.Fatalf("answer %q", body)
	}
	if d := cmp.Diff(map[string]int{"b-5xx": 1, "c-ok": 1}, b.got()); d != "" {
		t.Fatalf("hits (-want +got):\n%s", d)
	}

	// The next call starts one further on (at b), so c serves after b.
	resp, err = c.Do(ctx, "orders", registry.Request{Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := cmp.Diff(map[string]int{"b-5xx": 1, "c-ok": 1}, b.got()); d != "" {
		t.Fatalf("second call hits (-want +got):\n%s", d)
	}
}

func TestDoIsBounded(t *testing.T) {
	e := newEureka(t)
	b := &backends{hits: map[string]int{}}
	b.serve(t, e, "a-5xx", http.StatusInternalServerError)
	b.dead(t, e, "b-dead")
	b.serve(t, e, "c-5xx", http.StatusServiceUnavailable)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)

	_, err := c.Do(context.Background(), "orders", registry.Request{Path: "/x"})
	var h *registry.HTTPError
	if !errors.As(err, &h) || h.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("all failing: %v, want the last failure, c's 503", err)
	}
	if want := "all 3 UP instances failed: GET /x to ORDERS/c-5xx: "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("error %q, want it to start %q", err, want)
	}
	if d := cmp.Diff(map[string]int{"a-5xx": 1, "c-5xx": 1}, b.got()); d != "" {
		t.Fatalf("each instance at most once (-want +got):\n%s", d)
	}

	// The third call starts at c, so b's refused connection comes last.
	if _, err := c.Do(context.Background(), "orders", registry.Request{Path: "/x"}); err == nil {
		t.Fatal("second call succeeded")
	}
	_, err = c.Do(context.Background(), "orders", registry.Request{Path: "/x"})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("last failure %v, want b's connection refused", err)
	}
}

func TestDoReturnsAnswersThatAreNotFailures(t *testing.T) {
	e := newEureka(t)
	b := &backends{hits: map[string]int{}}
	b.serve(t, e, "a-404", http.StatusNotFound)
	b.serve(t, e, "b-ok", http.StatusOK)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)
	resp, err := c.Do(context.Background(), "orders", registry.Request{Method: "DELETE", Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want the 404 as it came", resp.StatusCode)
	}
	if d := cmp.Diff(map[string]int{"a-404": 1}, b.got()); d != "" {
		t.Fatalf("a 4xx is not retried (-want +got):\n%s", d)
	}
	if _, err := c.Do(context.Background(), "billing", registry.Request{}); !errors.Is(err, registry.ErrNoInstance) {
		t.Fatalf("Do to an app with no instance: %v", err)
	}
}

// TestDoRetriesIdempotentAfterABrokenConnection: an instance that takes a
// request and drops the connection may have acted on it, so only
// idempotent requests go to another instance.
func TestDoRetriesIdempotentAfterABrokenConnection(t *testing.T) {
	e := newEureka(t)
	b := &backends{hits: map[string]int{}}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.hits["a-drop"]++
		b.mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hang.Close)
	e.register(t, "orders", "a-drop", server.StatusUp, hang.Listener.Addr().(*net.TCPAddr).Port)
	b.serve(t, e, "b-ok", http.StatusOK)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)

	for i, tc := range []struct {
		method string
		want   map[string]int
		ok     bool
	}{
		{"PUT", map[string]int{"a-drop": 1, "b-ok": 1}, true},
		{"GET", map[string]int{"b-ok": 1}, true}, // the round-robin starts at b this time
		{"POST", map[string]int{"a-drop": 1}, false},
	} {
		resp, err := c.Do(context.Background(), "orders", registry.Request{Method: tc.method, Path: "/x"})
		if (err == nil) != tc.ok {
			t.Fatalf("%d %s: err %v", i, tc.method, err)
		}
		if err == nil {
			resp.Body.Close()
		}
		if d := cmp.Diff(tc.want, b.got()); d != "" {
			t.Fatalf("%d %s hits (-want +got):\n%s", i, tc.method, d)
		}
	}
}

func TestInstanceBaseURL(t *testing.T) {
	for _, tc := range []struct {
		in   registry.Instance
		want string
	}{
		{registry.Instance{IPAddr: "10.0.0.1", Port: registry.Port{Number: 80, Enabled: true}}, "http://10.0.0.1:80"},
		{registry.Instance{HostName: "h", SecurePort: registry.Port{Number: 443, Enabled: true}}, "https://h:443"},
		{registry.Instance{IPAddr: "::1", Port: registry.Port{Number: 8080, Enabled: true}}, "http://[::1]:8080"},
		{registry.Instance{IPAddr: "10.0.0.1", Port: registry.Port{Number: 80}}, ""},
	} {
		if got := tc.in.BaseURL(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.in, got, tc.want)
		}
	}
}
