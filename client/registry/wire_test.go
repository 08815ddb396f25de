package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/client/registry"
	server "github.com/ebb-autoscaler/ebb/internal/registry"
	"github.com/google/go-cmp/cmp"
)

// TestDecodesWhatEbbWrites registers instances using every field with
// ebb's registry and checks that the cache holds exactly what the registry
// does, after a full fetch and after a delta.
func TestDecodesWhatEbbWrites(t *testing.T) {
	e := newEureka(t)
	full := server.Instance{
		InstanceID: "i-0abc", HostName: "ip-10-0-0-7.ec2.internal", App: "search", IPAddr: "10.0.0.7",
		Status: server.StatusUp, Port: server.Port{Number: 8080, Enabled: true}, SecurePort: server.Port{Number: 8443},
		CountryID: 1, VIPAddress: "search", SecureVIPAddress: "search-secure",
		HomePageURL: "http://10.0.0.7:8080/", StatusPageURL: "http://10.0.0.7:8080/info", HealthCheckURL: "http://10.0.0.7:8080/healthz",
		DataCenterInfo: server.DataCenterInfo{Name: server.DataCenterAmazon, Metadata: map[string]string{"instance-id": "i-0abc", "availability-zone": "us-east-1a"}},
		LeaseInfo:      server.LeaseInfo{RenewalIntervalInSecs: 10, DurationInSecs: 30},
		Metadata:       map[string]string{"zone": "a", "weight": "3"},
	}
	if _, err := e.reg.Register(e.clk.Now(), "search", full); err != nil {
		t.Fatal(err)
	}
	e.register(t, "orders", "o1", server.StatusStarting, 9000)
	c := newClient(t, registry.Options{Servers: []string{e.url}, Clock: e.clk})
	mustRefresh(t, c, registry.RefreshFull)
	sameAsRegistry(t, c, e)

	if err := e.reg.SetStatusOverride(e.clk.Now(), server.StatusRequest{App: "search", ID: "i-0abc", Status: server.StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	mustRefresh(t, c, registry.RefreshDelta)
	sameAsRegistry(t, c, e)
}

// TestRegistrationBody pins what Register sends: Eureka's JSON shapes that
// a Java Eureka server reads too.
func TestRegistrationBody(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	in := self("o1", "")
	in.Metadata = map[string]string{"zone": "a"}
	c := newClient(t, registry.Options{Servers: []string{srv.URL}, Instance: in, Clock: newEureka(t).clk})
	if err := c.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string]any{
		"instanceId": "o1", "hostName": "o1.local", "app": "ORDERS", "ipAddr": "127.0.0.1", "status": "UP",
		"port":           map[string]any{"$": 8080.0, "@enabled": "true"},
		"securePort":     map[string]any{"$": 0.0, "@enabled": "false"},
		"countryId":      1.0,
		"dataCenterInfo": map[string]any{"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
		"leaseInfo":      map[string]any{"renewalIntervalInSecs": 30.0},
		"metadata":       map[string]any{"zone": "a"},
		"vipAddress":     "orders", "lastDirtyTimestamp": "1772445600000",
	}
	if d := cmp.Diff(want, got["instance"]); d != "" {
		t.Fatalf("registration body (-want +got):\n%s", d)
	}
}

// serveBody is a registry that answers every GET with body.
func serveBody(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/eureka"
}

// TestDecodesOtherEurekaShapes reads what other Eureka servers write:
// numbers and booleans as strings or not, a list of one as its lone
// object, Java's "@class" markers, metadata values that are not strings.
func TestDecodesOtherEurekaShapes(t *testing.T) {
	const lone = `{"applications": {"versions__delta": 7, "apps__hashcode": "UP_1_", "application": {"name": "orders",
	  "instance": {"instanceId": "o1", "hostName": "h1", "app": "orders", "ipAddr": "10.0.0.1", "status": "UP", "overriddenstatus": "UNKNOWN",
	    "port": {"$": "8080", "@enabled": true}, "securePort": {"@enabled": "false", "$": 443}, "countryId": "1",
	    "dataCenterInfo": {"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon", "metadata": {"instance-id": "i-1"}},
	    "leaseInfo": {"renewalIntervalInSecs": "30", "durationInSecs": 90, "registrationTimestamp": "1000",
	      "lastRenewalTimestamp": 2000, "evictionTimestamp": 0, "serviceUpTimestamp": null},
	    "metadata": {"@class": "java.util.Collections$EmptyMap", "weight": 3, "canary": true, "empty": null},
	    "isCoordinatingDiscoveryServer": "false", "lastUpdatedTimestamp": "3000", "lastDirtyTimestamp": 4000, "actionType": "ADDED"}}}}`
	c := newClient(t, registry.Options{Servers: []string{serveBody(t, lone)}})
	mustRefresh(t, c, registry.RefreshFull)
	want := registry.Applications{VersionsDelta: 7, AppsHashCode: "UP_1_", Apps: []registry.Application{{Name: "ORDERS", Instances: []registry.Instance{{
		InstanceID: "o1", HostName: "h1", App: "ORDERS", IPAddr: "10.0.0.1", Status: registry.StatusUp, OverriddenStatus: registry.StatusUnknown,
		Port: registry.Port{Number: 8080, Enabled: true}, SecurePort: registry.Port{Number: 443}, CountryID: 1,
		DataCenterInfo:       registry.DataCenterInfo{Class: "com.netflix.appinfo.AmazonInfo", Name: "Amazon", Metadata: map[string]string{"instance-id": "i-1"}},
		LeaseInfo:            registry.LeaseInfo{RenewalIntervalInSecs: 30, DurationInSecs: 90, RegistrationTimestamp: 1000, LastRenewalTimestamp: 2000},
		Metadata:             map[string]string{"weight": "3", "canary": "true"},
		LastUpdatedTimestamp: 3000, LastDirtyTimestamp: 4000, ActionType: registry.ActionAdded,
	}}}}}
	if d := cmp.Diff(want, c.Applications()); d != "" {
		t.Fatalf("decoded (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"empty registry", `{"applications": {"versions__delta": "1", "apps__hashcode": "", "application": []}}`, ""},
		{"no application at all", `{"applications": {"versions__delta": "1", "apps__hashcode": ""}}`, ""},
		{"not JSON", `<applications/>`, "decode applications: invalid character"},
		{"not applications", `{"application": {"name": "X"}}`, `want {"applications": {...}}`},
		{"bad port", `{"applications": {"application": [{"name": "A", "instance": [{"instanceId": "a1", "port": {"$": "http", "@enabled": "yes"}}]}]}}`,
			`application A: instance a1: port.$: "http" is not an integer` + "\n" + `port.@enabled: "yes" is not true or false`},
		{"nested metadata", `{"applications": {"application": [{"name": "A", "instance": [{"metadata": {"a": {"b": 1}}}]}]}}`, "is not a number, boolean or string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, registry.Options{Servers: []string{serveBody(t, tc.body)}})
			_, err := c.Refresh(context.Background())
			if tc.want == "" {
				if err != nil || len(c.Applications().Apps) != 0 {
					t.Fatalf("%v, %+v", err, c.Applications())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHashCode(t *testing.T) {
	for _, tc := range []struct {
		counts map[registry.Status]int
		want   string
	}{
		{nil, ""},
		{map[registry.Status]int{registry.StatusUp: 3, registry.StatusOutOfService: 1, registry.StatusDown: 0}, "OUT_OF_SERVICE_1_UP_3_"},
		{map[registry.Status]int{registry.StatusUp: 10, registry.StatusStarting: 2, registry.StatusDown: 1}, "DOWN_1_STARTING_2_UP_10_"},
	} {
		if got := registry.HashCode(tc.counts); got != tc.want {
			t.Errorf("HashCode(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}
