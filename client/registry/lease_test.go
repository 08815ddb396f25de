package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
)

func TestRegisterRenewFetch(t *testing.T) {
	e := newEureka(t)
	ctx := context.Background()
	c := newClient(t, registry.Options{Servers: []string{e.url}, Instance: self("o1", ""), Clock: e.clk})
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.Instance("orders", "o1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != server.StatusUp || got.LeaseInfo.RenewalIntervalInSecs != 30 ||
		got.DataCenterInfo.Class != "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo" || got.LastDirtyTimestamp != t0.UnixMilli() {
		t.Fatalf("registered %+v", got)
	}

	e.clk.Advance(30 * time.Second)
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = e.reg.Instance("orders", "o1")
	if got.LeaseInfo.LastRenewalTimestamp != e.clk.Now().UnixMilli() {
		t.Fatalf("lease not renewed: last renewal %d", got.LeaseInfo.LastRenewalTimestamp)
	}
	if n := e.count("POST /apps/ORDERS"); n != 1 {
		t.Fatalf("%d registrations, want 1", n)
	}

	mustRefresh(t, c, registry.RefreshFull)
	if got := ids(c, "orders"); got != "o1=UP" {
		t.Fatalf("cache holds %q", got)
	}
	if in, err := c.Next("Orders"); err != nil || in.BaseURL() != "http://127.0.0.1:8080" {
		t.Fatalf("Next = %+v, %v", in, err)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err after success: %v", err)
	}
}

func TestRenewRegistersAgainWhenTheRegistryForgets(t *testing.T) {
	e := newEureka(t)
	ctx := context.Background()
	c := newClient(t, registry.Options{Servers: []string{e.url}, Instance: self("o1", registry.StatusUp), Clock: e.clk})
	if err := c.Renew(ctx); !errors.Is(err, registry.ErrNotRegistering) {
		t.Fatalf("renew before register: %v, want ErrNotRegistering", err)
	}
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	// The registry restarts, or evicts the instance.
	if err := e.reg.Cancel(e.clk.Now(), "orders", "o1"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(30 * time.Second)
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Instance("orders", "o1"); err != nil {
		t.Fatalf("not registered again: %v", err)
	}
	if r, p := e.count("PUT /apps/ORDERS/o1"), e.count("POST /apps/ORDERS"); r != 1 || p != 2 {
		t.Fatalf("%d renewals and %d registrations, want 1 and 2", r, p)
	}
	if err := c.Renew(ctx); err != nil || e.count("POST /apps/ORDERS") != 2 {
		t.Fatalf("renewal after registering again: %v, %d registrations", err, e.count("POST /apps/ORDERS"))
	}
}

func TestCloseCancelsTheLease(t *testing.T) {
	e := newEureka(t)
	ctx := context.Background()
	c := registered(t, e, registry.StatusUp)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Instance("orders", "o1"); !errors.Is(err, server.ErrNotFound) {
		t.Fatalf("instance still registered after Close: %v", err)
	}
	if n := e.count("DELETE /apps/ORDERS/o1"); n != 1 {
		t.Fatalf("%d cancels, want 1", n)
	}
	if err := c.Close(ctx); err != nil || e.count("DELETE /apps/ORDERS/o1") != 1 {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Renew(ctx); !errors.Is(err, registry.ErrNotRegistering) {
		t.Fatalf("renew after Close: %v, want ErrNotRegistering", err)
	}
	if err := c.Register(ctx); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("register after Close: %v, want ErrClosed", err)
	}
	if got := ids(c, "orders"); got != "o1=UP" {
		t.Fatalf("the cache is still readable after Close: %q", got)
	}
}

// TestSetStatus follows an instance from STARTING to UP, and checks that a
// status change the registry missed reaches it by the next renewal.
func TestSetStatus(t *testing.T) {
	e := newEureka(t)
	ctx := context.Background()
	c := registered(t, e, registry.StatusStarting)
	if _, err := c.Next("orders"); !errors.Is(err, registry.ErrNoInstance) {
		t.Fatalf("Next of a STARTING instance: %v, want ErrNoInstance", err)
	}
	if err := c.SetStatus(ctx, registry.StatusUp); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.reg.Instance("orders", "o1"); got.Status != server.StatusUp {
		t.Fatalf("status %s, want UP", got.Status)
	}

	e.down.Store(true)
	if err := c.SetStatus(ctx, registry.StatusDown); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("SetStatus with the registry down: %v, want ErrUnavailable", err)
	}
	e.down.Store(false)
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.reg.Instance("orders", "o1"); got.Status != server.StatusDown {
		t.Fatalf("status %s after the renewal, want DOWN", got.Status)
	}
	if err := c.SetStatus(ctx, "SLEEPY"); err == nil || !strings.Contains(err.Error(), `"SLEEPY"`) {
		t.Fatalf("bad status: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts registry.Options
		want []string
	}{
		{"no server", registry.Options{}, []string{"servers: at least one"}},
		{"bad server and negative durations", registry.Options{Servers: []string{"registry:8761"}, FetchInterval: -time.Second, Timeout: -1},
			[]string{`servers[0]: "registry:8761" is not an http(s) URL`, "fetch_interval: must not be negative", "timeout: must not be negative"}},
		{"instance missing its fields", registry.Options{Servers: []string{"http://r/eureka"}, Instance: &registry.Instance{InstanceID: "a/b", Port: registry.Port{Number: 70000}}},
			[]string{"instance.app: missing", "instance.hostName: missing", "instance.ipAddr: missing", `instance.instanceId: "a/b"`, "instance.port: 70000"}},
		{"lease shorter than renewals", registry.Options{Servers: []string{"http://r/eureka"}, RenewalInterval: time.Minute,
			Instance: &registry.Instance{App: "a", HostName: "h", IPAddr: "1", LeaseInfo: registry.LeaseInfo{DurationInSecs: 60, RenewalIntervalInSecs: 30}}},
			[]string{"renewalIntervalInSecs: 30 differs from renewal_interval 1m0s", "durationInSecs: 60 must be 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.New(tc.opts)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := registry.New(registry.Options{Servers: []string{"https://r:8761/eureka/"}, Instance: self("o1", "")}); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
}
