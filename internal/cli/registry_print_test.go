package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

// ebb registry's table: one app picked without regard to case, overrides
// and expired leases said, self-preservation in words.
func TestPrintRegistry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	view := func() daemon.RegistryView {
		return daemon.RegistryView{
			SelfPreservation: daemon.RegistryPreservation{Enabled: true, RenewalsLastMin: 600, ThresholdPerMin: 510},
			Apps: []daemon.RegistryApp{
				{Name: "BILLING", Instances: []daemon.RegistryInstance{{ID: "b1", Status: "UP", Addr: "10.0.0.9:80",
					LastRenewal: now.Add(-5 * time.Second), LeaseExpires: now.Add(85 * time.Second)}}},
				{Name: "WEB", Instances: []daemon.RegistryInstance{
					{ID: "w1", Status: "OUT_OF_SERVICE", OverriddenStatus: "OUT_OF_SERVICE", Addr: "10.0.0.1:8080",
						LastRenewal: now.Add(-2 * time.Second), LeaseExpires: now.Add(88 * time.Second)},
					{ID: "w2", Status: "UP", Addr: "10.0.0.2:8080",
						LastRenewal: now.Add(-100 * time.Second), LeaseExpires: now.Add(-10 * time.Second), Expired: true},
				}},
			},
		}
	}
	v := view()
	if !keepApp(&v, "web") || len(v.Apps) != 1 || v.Apps[0].Name != "WEB" {
		t.Fatalf("keepApp(web): %+v", v.Apps)
	}
	var b strings.Builder
	if err := printRegistry(&b, v, now); err != nil {
		t.Fatal(err)
	}
	want := `registry: 2 instances in 1 app; self-preservation off (600 renewals in the last minute, above 510)
APP  INSTANCE  STATUS                     ADDR           LAST RENEWAL  LEASE
WEB  w1        OUT_OF_SERVICE (override)  10.0.0.1:8080  2s ago        expires in 1m28s
WEB  w2        UP                         10.0.0.2:8080  1m40s ago     EXPIRED 10s ago
`
	if b.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
	v = view()
	if keepApp(&v, "orders") {
		t.Error("keepApp found an app the registry does not hold")
	}
}

// An app not in the registry is an error naming it, exit 1.
func TestRegistryCommandUnknownApp(t *testing.T) {
	_, url := fakeAPI(t)
	code, out, errs := run(t, "registry", "orders", "--api", url)
	if code != 1 || !strings.Contains(errs, "app ORDERS is not in the registry") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
