package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/registry"
)

// eureka sends one request to a daemon's registry API and returns the
// status and body.
func eureka(t *testing.T, d *Daemon, method, path, body string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(d.Registry())
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func registration(id string) string {
	return `{"instance": {"instanceId": "` + id + `", "hostName": "127.0.0.1", "app": "WEB", "ipAddr": "127.0.0.1",
  "status": "UP", "port": {"$": 8080, "@enabled": "true"},
  "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"}}}`
}

// TestRegistryKeptAcrossRestart: what instances registered, and the
// status overrides set on them, are there after ebb restarts; the leases
// start anew at the restart, so nobody is evicted for the time ebb was
// down.
func TestRegistryKeptAcrossRestart(t *testing.T) {
	h := newHarness(t, groupYAML("web", 3), Options{})
	for _, id := range []string{"a", "b", "c"} {
		if code, body := eureka(t, h.d, "POST", "/eureka/apps/WEB", registration(id)); code != http.StatusNoContent {
			t.Fatalf("register %s: %d %s", id, code, body)
		}
	}
	if code, _ := eureka(t, h.d, "PUT", "/eureka/apps/WEB/b/status?value=OUT_OF_SERVICE", ""); code != http.StatusOK {
		t.Fatalf("status override: %d", code)
	}
	if code, _ := eureka(t, h.d, "DELETE", "/eureka/apps/WEB/c", ""); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	if err := h.d.st.Close(); err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(10 * time.Minute) // down longer than any lease
	opt := h.d.opt
	d2, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.st.Close() })
	now := h.clock.Now()
	for id, want := range map[string]registry.Status{"a": registry.StatusUp, "b": registry.StatusOutOfService} {
		ls, err := d2.reg.Lease(now, "WEB", id)
		if err != nil || ls.Status != want || ls.Expired {
			t.Errorf("%s after restart: %+v %v, want %s with a current lease", id, ls, err, want)
		}
	}
	if _, err := d2.reg.Lease(now, "WEB", "c"); err == nil {
		t.Error("the cancelled instance is back after restart")
	}
	// b's client registers again as UP: its override still holds.
	if code, _ := eureka(t, d2, "POST", "/eureka/apps/WEB", registration("b")); code != http.StatusNoContent {
		t.Fatalf("re-register: %d", code)
	}
	code, body := eureka(t, d2, "GET", "/eureka/apps/WEB/b", "")
	if code != http.StatusOK || !strings.Contains(body, `"status":"OUT_OF_SERVICE"`) {
		t.Errorf("b after re-registering: %d %s", code, body)
	}
}
