package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// history is two hours of a backlog, one sample a minute, for two jobs:
// orders quiet, then a surge from minute 60 to 89; billing steady.
func history(end time.Time) []byte {
	var b strings.Builder
	b.WriteString("# TYPE jobs_waiting gauge\n")
	start := end.Add(-2 * time.Hour)
	for m := 0; m <= 120; m++ {
		t := start.Add(time.Duration(m) * time.Minute).Unix()
		orders := 20
		if m >= 60 && m < 90 {
			orders = 400
		}
		fmt.Fprintf(&b, "jobs_waiting{job=\"orders\"} %d %d\n", orders, t)
		fmt.Fprintf(&b, "jobs_waiting{job=\"billing\"} 50 %d\n", t)
	}
	b.WriteString("# EOF\n")
	return []byte(b.String())
}

// ebb simulate --from-prometheus replays what a real Prometheus holds
// through the engine: the surge of orders scales it out and back in, the
// steady billing queue holds; one range query answers both groups.
func TestSimulateFromPrometheus(t *testing.T) {
	end := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	prom := testserver.Shared(t, &servers, "prometheus-history", func() (*testserver.PrometheusServer, error) {
		return testserver.PrometheusHistory(history(end))
	})
	cfg := filepath.Join(t.TempDir(), "ebb.yaml")
	group := func(name string) string {
		return fmt.Sprintf(`
  - name: %s
    capacity: {min: 1, max: 50}
    interval: 1m
    signals:
      backlog: {source: prom, prometheus: {query: 'sum by (job) (jobs_waiting)', label: job}, stale: 5m}
    policies:
      - queue: {signal: backlog, per_instance: 10}
    behavior:
      up: {limits: [{count: 100, per: 1m}]}
      down: {window: 5m}
    lifecycle:
      launch: {boot: 0s}
`, name)
	}
	// The source's url is not where the history is: --from-prometheus
	// says where to read it.
	body := "sources:\n  prom: {prometheus: {url: \"http://127.0.0.1:1\"}}\ngroups:" + group("orders") + group("billing")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	start := end.Add(-2 * time.Hour)
	code, out, errs := run(t, "simulate", "-c", cfg, "--from-prometheus", prom.URL,
		"--start", start.Format(time.RFC3339), "--end", end.Format(time.RFC3339), "--step", "1m", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Summary struct {
			Groups map[string]struct {
				MaxDesired int `json:"max_desired"`
				MinDesired int `json:"min_desired"`
				ScaleOuts  int `json:"scale_outs"`
				ScaleIns   int `json:"scale_ins"`
			} `json:"groups"`
		} `json:"summary"`
		Timeline []struct {
			T       float64 `json:"t"`
			Group   string  `json:"group"`
			Desired int     `json:"desired"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	orders, billing := res.Summary.Groups["orders"], res.Summary.Groups["billing"]
	if orders.MaxDesired != 40 || orders.ScaleOuts == 0 || orders.ScaleIns == 0 {
		t.Errorf("orders: %+v; want out to 40 for the surge and back in", orders)
	}
	if billing.MinDesired != 5 || billing.MaxDesired != 5 {
		t.Errorf("billing: %+v; want 5 throughout", billing)
	}
	surge := -1.0
	for _, r := range res.Timeline {
		if r.Group == "orders" && r.Desired == 40 {
			surge = r.T
			break
		}
	}
	if surge != 3600 {
		t.Errorf("orders reached 40 at t=%v; want 3600 (minute 60, when the surge began)", surge)
	}

	// A signal Prometheus does not hold is named, not replayed as missing.
	pushed := "groups:" + strings.Replace(group("web"), "{source: prom, prometheus: {query: 'sum by (job) (jobs_waiting)', label: job}, stale: 5m}", "{stale: 5m}", 1)
	if err := os.WriteFile(cfg, []byte(pushed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run(t, "simulate", "-c", cfg, "--from-prometheus", prom.URL,
		"--start", start.Format(time.RFC3339), "--end", end.Format(time.RFC3339))
	if code == 0 || !strings.Contains(errs, "group web, signal backlog is pushed: Prometheus holds no history of it") {
		t.Errorf("exit %d, %s; want the pushed signal named", code, errs)
	}
}
