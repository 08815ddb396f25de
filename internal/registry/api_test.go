package registry

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type call struct {
	method, path, contentType, accept, body string
}

func (s *server) do(t *testing.T, c call) (int, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, s.http.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const jsonBody = `{"instance": {"instanceId": "i-1", "hostName": "h1", "app": "orders", "ipAddr": "10.0.0.1",
  "status": "UP", "port": {"$": "8080", "@enabled": "true"}, "securePort": {"$": 8443, "@enabled": false},
  "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
  "leaseInfo": {"renewalIntervalInSecs": 10, "durationInSecs": "30"},
  "metadata": {"@class": "java.util.Collections$EmptyMap", "weight": 3},
  "vipAddress": "orders", "lastDirtyTimestamp": "1000"}}`

// TestAPIWireShapes pins the parts of Eureka's JSON and XML that clients
// depend on: the applications wrapper, ports, data-center class, hash code.
func TestAPIWireShapes(t *testing.T) {
	s := newServer(t, Config{})
	if code, body := s.do(t, call{"POST", "/eureka/apps/ORDERS", "application/json", "", jsonBody}); code != http.StatusNoContent {
		t.Fatalf("register: %d %s", code, body)
	}
	code, body := s.do(t, call{"GET", "/eureka/apps", "", "application/json", ""})
	if code != http.StatusOK {
		t.Fatalf("GET apps: %d %s", code, body)
	}
	var got struct {
		Applications struct {
			VersionsDelta string `json:"versions__delta"`
			AppsHashcode  string `json:"apps__hashcode"`
			Application   []struct {
				Name     string
				Instance []map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	apps := got.Applications
	if apps.VersionsDelta != "1" || apps.AppsHashcode != "UP_1_" || len(apps.Application) != 1 || apps.Application[0].Name != "ORDERS" {
		t.Fatalf("applications: %s", body)
	}
	in := apps.Application[0].Instance[0]
	want := map[string]any{
		"port":               map[string]any{"$": 8080.0, "@enabled": "true"},
		"securePort":         map[string]any{"$": 8443.0, "@enabled": "false"},
		"dataCenterInfo":     map[string]any{"@class": ClassDefaultDataCenterInfo, "name": "MyOwn"},
		"metadata":           map[string]any{"weight": "3"},
		"status":             "UP",
		"overriddenStatus":   "UNKNOWN",
		"lastDirtyTimestamp": "1000",
		"actionType":         "ADDED",
		"leaseInfo": map[string]any{"renewalIntervalInSecs": 10.0, "durationInSecs": 30.0,
			"registrationTimestamp": float64(t0.UnixMilli()), "lastRenewalTimestamp": float64(t0.UnixMilli()),
			"evictionTimestamp": 0.0, "serviceUpTimestamp": float64(t0.UnixMilli())},
	}
	for k, v := range want {
		if d := cmp.Diff(v, in[k]); d != "" {
			t.Errorf("instance %s (-want +got):\n%s", k, d)
		}
	}

	// XML is the default, as in Eureka.
	code, body = s.do(t, call{"GET", "/eureka/apps/orders/i-1", "", "", ""})
	for _, want := range []string{"<instance>", "<app>ORDERS</app>", `<port enabled="true">8080</port>`,
		`<securePort enabled="false">8443</securePort>`, `<dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name>`,
		"<metadata><weight>3</weight></metadata>", "<overriddenstatus>UNKNOWN</overriddenstatus>", "<durationInSecs>30</durationInSecs>"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("XML instance lacks %s: %d %s", want, code, body)
		}
	}
	code, body = s.do(t, call{"GET", "/eureka/apps/delta", "", "application/xml", ""})
	for _, want := range []string{"<applications><versions__delta>1</versions__delta><apps__hashcode>UP_1_</apps__hashcode><application><name>ORDERS</name>",
		"<actionType>ADDED</actionType>"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("XML delta lacks %s: %d %s", want, code, body)
		}
	}
	if code, body := s.do(t, call{"GET", "/eureka/instances/i-1", "", "application/json", ""}); code != http.StatusOK || !strings.HasPrefix(body, `{"instance":{"instanceId":"i-1"`) {
		t.Errorf("GET instances/i-1: %d %s", code, body)
	}
	if code, body := s.do(t, call{"GET", "/eureka/apps/ORDERS", "", "application/json", ""}); code != http.StatusOK || !strings.HasPrefix(body, `{"application":{"name":"ORDERS","instance":[{`) {
		t.Errorf("GET apps/ORDERS: %d %s", code, body)
	}
	if code, body := s.do(t, call{"GET", "/eureka/apps", "", "application/json", ""}); code != http.StatusOK || !strings.Contains(body, `"application":[{`) {
		t.Errorf("GET apps: %d %s", code, body)
	}
	// The empty registry still has an application list, not null.
	if code, _ := s.do(t, call{"DELETE", "/eureka/apps/orders/i-1", "", "", ""}); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	if _, body := s.do(t, call{"GET", "/eureka/apps", "", "application/json", ""}); body != `{"applications":{"versions__delta":"2","apps__hashcode":"","application":[]}}` {
		t.Errorf("empty registry: %s", body)
	}
}

// TestAPIRefusesBadInput checks that each bad request is a 4xx that says
// why, and that none of them changes the registry.
func TestAPIRefusesBadInput(t *testing.T) {
	s := newServer(t, Config{})
	if code, body := s.do(t, call{"POST", "/eureka/apps/orders", "application/json", "", jsonBody}); code != http.StatusNoContent {
		t.Fatalf("register: %d %s", code, body)
	}
	before := s.reg.Applications()
	for _, tc := range []struct {
		name string
		call
		code int
		want string
	}{
		{"not JSON", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instance": `}, 400, "decode JSON body"},
		{"unwrapped", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instanceId": "x"}`}, 400, `want {"instance": {...}}`},
		{"port not a number", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instance": {"port": {"$": "http"}}}`}, 400, "not an integer"},
		{"nested metadata", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instance": {"metadata": {"a": {"b": 1}}}}`}, 400, `value of "a" must be a string`},
		{"every missing field at once", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instance": {"app": "billing"}}`}, 400,
			"instance.app: \"BILLING\" does not match the app \"ORDERS\" in the path\ninstance.instanceId: missing"},
		{"bad XML", call{"POST", "/eureka/apps/orders", "application/xml", "", `<instance><port>80`}, 400, "decode XML body"},
		{"bad XML port flag", call{"POST", "/eureka/apps/orders", "application/xml", "",
			`<instance><instanceId>i-9</instanceId><hostName>h</hostName><ipAddr>1</ipAddr><port enabled="yes">80</port><dataCenterInfo><name>MyOwn</name></dataCenterInfo></instance>`},
			400, `instance.port@enabled: "yes"`},
		{"bad status", call{"POST", "/eureka/apps/orders", "application/json", "",
			strings.Replace(jsonBody, `"status": "UP"`, `"status": "RUNNING"`, 1)}, 400, `status "RUNNING"`},
		{"override without value", call{"PUT", "/eureka/apps/orders/i-1/status", "", "", ""}, 400, "value: missing"},
		{"override to a bad value", call{"PUT", "/eureka/apps/orders/i-1/status?value=GONE", "", "", ""}, 400, `status "GONE"`},
		{"override to UNKNOWN", call{"PUT", "/eureka/apps/orders/i-1/status?value=UNKNOWN", "", "", ""}, 400, "delete the override instead"},
		{"override of an unknown instance", call{"PUT", "/eureka/apps/orders/i-9/status?value=UP", "", "", ""}, 404, "not registered"},
		{"override removal to a bad value", call{"DELETE", "/eureka/apps/orders/i-1/status?value=GONE", "", "", ""}, 400, `status "GONE"`},
		{"renew with a bad timestamp", call{"PUT", "/eureka/apps/orders/i-1?lastDirtyTimestamp=soon", "", "", ""}, 400, "lastDirtyTimestamp"},
		{"renew with a bad status", call{"PUT", "/eureka/apps/orders/i-1?status=GONE", "", "", ""}, 400, "status"},
		{"renew of an unknown instance", call{"PUT", "/eureka/apps/orders/i-9", "", "", ""}, 404, "not registered"},
		{"cancel of an unknown instance", call{"DELETE", "/eureka/apps/orders/i-9", "", "", ""}, 404, "not registered"},
		{"metadata key no XML can hold", call{"PUT", "/eureka/apps/orders/i-1/metadata?9lives=x", "", "", ""}, 400, `key "9lives"`},
		{"unknown app", call{"GET", "/eureka/apps/billing", "", "", ""}, 404, "not registered"},
		{"unknown instance", call{"GET", "/eureka/apps/orders/i-9", "", "", ""}, 404, "not registered"},
		{"unknown instance id", call{"GET", "/eureka/instances/i-9", "", "", ""}, 404, "not registered"},
		{"wrong method", call{"PATCH", "/eureka/apps/orders", "", "", ""}, 405, ""},
		{"body too big", call{"POST", "/eureka/apps/orders", "application/json", "", `{"instance": {"hostName": "` + strings.Repeat("x", maxBody) + `"}}`}, 400, "read body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.do(t, tc.call)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %q, want %d containing %q", code, body, tc.code, tc.want)
			}
		})
	}
	if d := cmp.Diff(before, s.reg.Applications()); d != "" {
		t.Fatalf("refused requests changed the registry (-before +after):\n%s", d)
	}
}

func TestAPIRenewAndStatusQueryParameters(t *testing.T) {
	s := newServer(t, Config{})
	s.do(t, call{"POST", "/eureka/apps/orders", "application/json", "", jsonBody}) // lastDirtyTimestamp 1000
	s.clk.Advance(10 * time.Second)
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/eureka/apps/orders/i-1?status=UP&lastDirtyTimestamp=1000", 200},
		{"/eureka/apps/orders/i-1?lastDirtyTimestamp=999", 200},
		{"/eureka/apps/orders/i-1?lastDirtyTimestamp=1001", 404}, // the client knows more: register again
		{"/eureka/apps/ORDERS/i-1", 200},
	} {
		if code, body := s.do(t, call{"PUT", tc.path, "", "", ""}); code != tc.code {
			t.Errorf("PUT %s = %d %s, want %d", tc.path, code, body, tc.code)
		}
	}
	if code, _ := s.do(t, call{"PUT", "/eureka/apps/orders/i-1/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=5000", "", "", ""}); code != 200 {
		t.Fatalf("override: %d", code)
	}
	in, _ := s.reg.Instance("orders", "i-1")
	if in.Status != StatusOutOfService || in.LastDirtyTimestamp != 5000 {
		t.Fatalf("after override: %s, dirty %d", in.Status, in.LastDirtyTimestamp)
	}
	if code, _ := s.do(t, call{"DELETE", "/eureka/apps/orders/i-1/status?value=UP", "", "", ""}); code != 200 {
		t.Fatalf("remove override: %d", code)
	}
	if in, _ := s.reg.Instance("orders", "i-1"); in.Status != StatusUp || in.OverriddenStatus != StatusUnknown {
		t.Fatalf("after removing the override: %s (%s)", in.Status, in.OverriddenStatus)
	}
}

func TestHandlerPrefix(t *testing.T) {
	reg := newRegistry(t, Config{})
	for _, tc := range []struct{ prefix, path string }{
		{"", "/eureka/apps"}, {"/eureka/v2/", "/eureka/v2/apps"}, {"/", "/apps"},
	} {
		h := NewHandler(reg, nil, tc.prefix)
		req, _ := http.NewRequest("GET", tc.path, nil)
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		if rec.code != 0 && rec.code != http.StatusOK {
			t.Errorf("prefix %q: GET %s = %d", tc.prefix, tc.path, rec.code)
		}
	}
}

type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// FuzzDecodeInstance feeds registration bodies through decoding and
// registration: no panic, and whatever is accepted encodes in both forms.
func FuzzDecodeInstance(f *testing.F) {
	f.Add([]byte(jsonBody), true)
	f.Add([]byte(`<instance><instanceId>i</instanceId><hostName>h</hostName><ipAddr>1</ipAddr><dataCenterInfo><name>MyOwn</name></dataCenterInfo><metadata><a>b</a></metadata></instance>`), false)
	f.Add([]byte(`{"instance": {"port": {"$": null}}}`), true)
	f.Fuzz(func(t *testing.T, body []byte, useJSON bool) {
		fm := formatXML
		if useJSON {
			fm = formatJSON
		}
		in, err := decodeInstance(body, fm)
		if err != nil {
			return
		}
		reg, _ := New(Config{})
		got, err := reg.Register(t0, "orders", in)
		if err != nil {
			return
		}
		for _, f := range []format{formatJSON, formatXML} {
			b, err := encodeInstance(f, got)
			if err != nil {
				t.Fatalf("encode %v: %v", f, err)
			}
			if f == formatJSON {
				var wrap map[string]json.RawMessage
				if err := json.Unmarshal(b, &wrap); err != nil {
					t.Fatalf("invalid JSON out: %v", err)
				}
			}
		}
	})
}
