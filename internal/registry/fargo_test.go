package registry

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/google/go-cmp/cmp"
	"github.com/hudl/fargo"
	logging "github.com/op/go-logging"
)

// server runs the API on loopback over a registry on a fake clock.
type server struct {
	reg  *Registry
	clk  *clock.Fake
	http *httptest.Server
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	logging.SetLevel(logging.CRITICAL, "fargo") // fargo logs every request at NOTICE
	reg := newRegistry(t, cfg)
	clk := clock.NewFake(t0)
	s := &server{reg: reg, clk: clk, http: httptest.NewServer(NewHandler(reg, clk, ""))}
	t.Cleanup(s.http.Close)
	return s
}

func fargoInstance(id string, port int) *fargo.Instance {
	in := &fargo.Instance{
		InstanceId: id, HostName: id + ".example", App: "orders", IPAddr: "127.0.0.1",
		VipAddress: "orders", SecureVipAddress: "orders-secure", Status: fargo.UP,
		Port: port, PortEnabled: true, SecurePort: port + 1,
		HomePageUrl: "http://" + id + ".example/", HealthCheckUrl: "http://" + id + ".example/healthz",
		DataCenterInfo: fargo.DataCenterInfo{Name: fargo.MyOwn},
	}
	in.SetMetadataString("zone", "a")
	return in
}

func statusCode(t *testing.T, err error) int {
	t.Helper()
	code, ok := fargo.HTTPResponseStatusCode(err)
	if !ok {
		t.Fatalf("want an HTTP status error, got %v", err)
	}
	return code
}

// TestFargoLifecycle drives the registry with fargo, a Eureka client ebb did
// not write, in both of Eureka's wire forms.
func TestFargoLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		useJSON bool
	}{{"json", true}, {"xml", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Config{})
			conn := fargo.NewConn(s.http.URL + "/eureka")
			conn.UseJson = tc.useJSON

			one, two := fargoInstance("i-1", 8080), fargoInstance("i-2", 9090)
			for _, in := range []*fargo.Instance{one, two} {
				if err := conn.RegisterInstance(in); err != nil {
					t.Fatalf("register %s: %v", in.InstanceId, err)
				}
			}
			// fargo reads its registration back: the registry's values show.
			if one.App != "ORDERS" || one.LeaseInfo.DurationInSecs != 90 || one.LeaseInfo.RenewalIntervalInSecs != 30 ||
				one.LeaseInfo.RegistrationTimestamp != t0.UnixMilli() || one.Overriddenstatus != fargo.UNKNOWN {
				t.Fatalf("read back after registering: %+v", one)
			}
			// Registering what is registered is a no-op for fargo (it checks first).
			if err := conn.RegisterInstance(one); err != nil {
				t.Fatal(err)
			}

			s.clk.Advance(30 * time.Second)
			if err := conn.HeartBeatInstance(one); err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			if got, _ := s.reg.Instance("ORDERS", "i-1"); got.LeaseInfo.LastRenewalTimestamp != s.clk.Now().UnixMilli() {
				t.Fatalf("renewal not recorded: %+v", got.LeaseInfo)
			}

			apps, err := conn.GetApps()
			if err != nil {
				t.Fatal(err)
			}
			app := apps["ORDERS"]
			if app == nil || len(apps) != 1 || len(app.Instances) != 2 {
				t.Fatalf("GetApps = %+v", apps)
			}
			got := app.Instances[0]
			type seen struct {
				ID, Host, IP, VIP, SVIP, Health string
				Status                          fargo.StatusType
				Port, SecurePort                int
				PortOn, SecureOn                bool
				DC                              string
			}
			want := seen{"i-1", "i-1.example", "127.0.0.1", "orders", "orders-secure", "http://i-1.example/healthz",
				fargo.UP, 8080, 8081, true, false, fargo.MyOwn}
			if d := cmp.Diff(want, seen{got.InstanceId, got.HostName, got.IPAddr, got.VipAddress, got.SecureVipAddress,
				got.HealthCheckUrl, got.Status, got.Port, got.SecurePort, got.PortEnabled, got.SecurePortEnabled,
				got.DataCenterInfo.Name}); d != "" {
				t.Fatalf("instance as fargo sees it (-want +got):\n%s", d)
			}
			if zone, err := got.Metadata.GetString("zone"); err != nil || zone != "a" {
				t.Fatalf("metadata zone = %q, %v", zone, err)
			}
			if single, err := conn.GetApp("orders"); err != nil || len(single.Instances) != 2 {
				t.Fatalf("GetApp = %+v, %v", single, err)
			}

			// Take i-1 out of traffic, as a drain does.
			if err := conn.UpdateInstanceStatus(one, fargo.OUTOFSERVICE); err != nil {
				t.Fatalf("set OUT_OF_SERVICE: %v", err)
			}
			if in, err := conn.GetInstance("orders", "i-1"); err != nil || in.Status != fargo.OUTOFSERVICE {
				t.Fatalf("after OUT_OF_SERVICE: %+v, %v", in, err)
			}
			up, err := conn.GetInstancesByVIPAddress("orders", false, fargo.ThatAreUp)
			if err != nil || len(up) != 1 || up[0].InstanceId != "i-2" {
				t.Fatalf("UP instances of vip orders: %v, %v", up, err)
			}
			// The client restarts and registers as UP: the override holds.
			one.Status = fargo.UP
			if err := conn.ReregisterInstance(one); err != nil {
				t.Fatal(err)
			}
			if one.Status != fargo.OUTOFSERVICE || one.Overriddenstatus != fargo.OUTOFSERVICE {
				t.Fatalf("re-registered as %s (override %s)", one.Status, one.Overriddenstatus)
			}
			if err := conn.AddMetadataString(two, "version", "2"); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			if in, _ := s.reg.Instance("orders", "i-2"); in.Metadata["version"] != "2" || in.Metadata["zone"] != "a" {
				t.Fatalf("metadata after update: %v", in.Metadata)
			}

			if err := conn.DeregisterInstance(one); err != nil {
				t.Fatalf("deregister: %v", err)
			}
			if err := conn.HeartBeatInstance(one); statusCode(t, err) != http.StatusNotFound {
				t.Fatalf("heartbeat after deregistering: %v", err)
			}
			if err := conn.DeregisterInstance(two); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.GetApp("orders"); !errors.As(err, new(fargo.AppNotFoundError)) {
				t.Fatalf("GetApp of an empty app = %v, want AppNotFoundError", err)
			}
			if apps, err := conn.GetApps(); err != nil || len(apps) != 0 {
				t.Fatalf("GetApps of an empty registry = %v, %v", apps, err)
			}
		})
	}
}

// TestFargoReregistersWhenTheRegistryForgot covers the recovery path: an
// instance evicted (or lost) gets 404 on its heartbeat and registers again.
func TestFargoReregistersWhenTheRegistryForgot(t *testing.T) {
	s := newServer(t, Config{DisableSelfPreservation: true})
	conn := fargo.NewConn(s.http.URL + "/eureka")
	conn.UseJson = true
	in := fargoInstance("i-1", 8080)
	if err := conn.RegisterInstance(in); err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(91 * time.Second)
	if rep := s.reg.Evict(s.clk.Now()); len(rep.Evicted) != 1 {
		t.Fatalf("eviction: %+v", rep)
	}
	err := conn.HeartBeatInstance(in)
	if statusCode(t, err) != http.StatusNotFound {
		t.Fatalf("heartbeat of an evicted instance: %v", err)
	}
	if err := conn.RegisterInstance(in); err != nil {
		t.Fatal(err)
	}
	if err := conn.HeartBeatInstance(in); err != nil {
		t.Fatalf("heartbeat after registering again: %v", err)
	}
}

// TestFargoReadsTheDelta checks that the delta parses with fargo's own
// response types (fargo has no delta call of its own).
func TestFargoReadsTheDelta(t *testing.T) {
	s := newServer(t, Config{})
	conn := fargo.NewConn(s.http.URL + "/eureka")
	conn.UseJson = true
	for _, in := range []*fargo.Instance{fargoInstance("i-1", 8080), fargoInstance("i-2", 9090)} {
		if err := conn.RegisterInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.UpdateInstanceStatus(fargoInstance("i-2", 9090), fargo.OUTOFSERVICE); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.http.URL+"/eureka/apps/delta", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var delta fargo.GetAppsResponseJson
	if err := json.Unmarshal(body, &delta); err != nil {
		t.Fatalf("fargo cannot read the delta: %v\n%s", err, body)
	}
	if delta.Response.AppsHashcode != "OUT_OF_SERVICE_1_UP_1_" || delta.Response.VersionsDelta != 3 {
		t.Fatalf("delta header: %+v", delta.Response)
	}
	if n := len(delta.Response.Applications); n != 1 || len(delta.Response.Applications[0].Instances) != 2 {
		t.Fatalf("delta: %s", body)
	}
}
