package cli

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
)

const traceWorkers = `groups:
  - name: workers
    capacity: {min: 2, max: 40}
    interval: 15s
    signals: {backlog: {stale: 1m}}
    policies: [{queue: {signal: backlog, per_instance: 4}}]
    behavior: {down: {window: 2m}}
    lifecycle: {launch: {boot: 60s}, drain: {timeout: 30m}}
`

// surge is two hours of arrivals: 0.5 jobs/s, 8 jobs/s from minute 30 to
// 90, then 0.5 again.
func surge() string {
	var b strings.Builder
	b.WriteString("t,rate\n")
	for t := 0; t <= 7200; t += 60 {
		r := 0.5
		if t >= 1800 && t < 5400 {
			r = 8
		}
		fmt.Fprintf(&b, "%d,%g\n", t, r)
	}
	return b.String()
}

// simulate --trace runs the config's policy closed loop against a queue
// workload and the oracle beside it, and prints the comparison as JSON in
// the documented shape: the oracle is never dearer and never violates, and
// ebb loses no job.
func TestSimulateTraceJSON(t *testing.T) {
	cfg, tr := write(t, "w.yaml", traceWorkers), write(t, "surge.csv", surge())
	code, out, errs := run(t, "simulate", "-c", cfg, "--trace", tr, "--workload", "queue", "--compare", "oracle", "--json", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.Results) != 2 || doc.Results[0]["policy"] != "ebb" || doc.Results[1]["policy"] != "oracle" {
		t.Fatalf("results %v; want ebb then oracle", doc.Results)
	}
	for _, r := range doc.Results {
		for _, k := range []string{"policy", "cost_instance_hours", "slo_violation_fraction", "theta_u", "theta_o", "tau_u", "tau_o", "jitter", "actions", "lost_work"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%v lacks %q", r["policy"], k)
			}
		}
		if len(r) != 10 {
			t.Errorf("%v has %d keys; want the 10 documented", r["policy"], len(r))
		}
	}
	ebb, orc := doc.Results[0], doc.Results[1]
	if ebb["lost_work"].(float64) != 0 {
		t.Errorf("ebb lost %v jobs", ebb["lost_work"])
	}
	if orc["cost_instance_hours"].(float64) > ebb["cost_instance_hours"].(float64) || orc["slo_violation_fraction"].(float64) != 0 {
		t.Errorf("oracle %v vs ebb %v: the oracle must be the cheapest and never violate", orc, ebb)
	}
	if ebb["actions"].(float64) < 2 {
		t.Errorf("ebb took %v actions on a surge", ebb["actions"])
	}

	// The same run as a table.
	code, out, errs = run(t, "simulate", "-c", cfg, "--trace", tr, "--workload", "queue", "--compare", "oracle", "--seed", "3")
	if code != 0 || !strings.Contains(out, "queue workload, 2h1m0s of trace") || !strings.Contains(out, "oracle") {
		t.Fatalf("exit %d, %s%s", code, out, errs)
	}
}

// simulate --trace --compare runs each peer baseline closed loop on the
// same trace, workload and seed: every row is there, none loses a job, and
// none is cheaper than the oracle.
func TestSimulateTraceBaselines(t *testing.T) {
	cfg, tr := write(t, "w.yaml", traceWorkers), write(t, "surge.csv", surge())
	code, out, errs := run(t, "simulate", "-c", cfg, "--trace", tr, "--workload", "queue",
		"--compare", "hpa,keda,aws-target,aws-step,oracle", "--json", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Results []struct {
			Policy  string  `json:"policy"`
			Cost    float64 `json:"cost_instance_hours"`
			Lost    float64 `json:"lost_work"`
			Actions int     `json:"actions"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var policies []string
	for _, r := range doc.Results {
		policies = append(policies, r.Policy)
	}
	want := []string{"ebb", "hpa", "keda", "aws-target", "aws-step", "oracle"}
	if fmt.Sprint(policies) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", policies, want)
	}
	oracle := doc.Results[len(doc.Results)-1]
	for _, r := range doc.Results[:len(doc.Results)-1] {
		if r.Lost != 0 {
			t.Errorf("%s lost %v jobs", r.Policy, r.Lost)
		}
		if r.Cost < oracle.Cost {
			t.Errorf("%s costs %.2f instance-hours, below the oracle's %.2f", r.Policy, r.Cost, oracle.Cost)
		}
		if r.Actions < 2 {
			t.Errorf("%s took %d actions on a surge", r.Policy, r.Actions)
		}
	}
}

func TestSimulateTraceErrors(t *testing.T) {
	cfg, tr := write(t, "w.yaml", traceWorkers), write(t, "surge.csv", surge())
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no workload", args: []string{"--trace", tr}, code: 2, want: "--trace needs --workload"},
		{name: "unknown workload", args: []string{"--trace", tr, "--workload", "batch"}, code: 2, want: `--workload batch: neither a workload kind (service, queue, streaming, olap) nor a file`},
		{name: "bad workload file", args: []string{"--trace", tr, "--workload", write(t, "world.yaml", "workload:\n  queue: {per_worker: 0}\nsystem: {throttle: 1, boots: 2}\n")}, code: 1,
			want: `world.yaml:3:23: system: unknown key "boots"`},
		{name: "workload file with two kinds", args: []string{"--trace", tr, "--workload", write(t, "two.yaml", "workload:\n  queue: {}\n  olap: {}\nsystem: {throttle: 1}\n")}, code: 1,
			want: `two.yaml:1:1: workload: exactly one of service, queue, streaming or olap, not 2`},
		{name: "boot outlasting the launch timeout", code: 1, args: []string{"--trace", tr, "--workload", "queue",
			"-c", write(t, "short.yaml", strings.Replace(traceWorkers, "boot: 60s}", "timeout: 20s}", 1))}, // boot at its default, 30s
			want: "group workers: lifecycle.launch.boot (30s) is not shorter than lifecycle.launch.timeout (20s): every simulated launch would time out"},
		{name: "bad step", args: []string{"--trace", tr, "--workload", "queue", "--step", "3h"}, code: 2, want: "--step 3h0m0s: must be > 0 and no longer than the trace (2h1m0s)"},
		{name: "trace and signals", args: []string{"--trace", tr, "--workload", "queue", "--signals", tr}, code: 2, want: "pass one"},
		{name: "unknown baseline", args: []string{"--trace", tr, "--workload", "queue", "--compare", "oracle,nomad"}, code: 2, want: "--compare nomad: the baselines available are oracle, hpa, aws-target, aws-step, aws-predictive, keda, flink"},
		{name: "baseline for another workload", args: []string{"--trace", tr, "--workload", "queue", "--compare", "hpa,flink"}, code: 2, want: "--compare flink: baseline does not apply to the workload: flink runs only on the streaming workload, not queue"},
		{name: "bad scale", args: []string{"--trace", tr, "--workload", "queue", "--scale", "0"}, code: 2, want: "--scale"},
		{name: "bad trace", args: []string{"--trace", write(t, "bad.csv", "t,rate\n0,1\n0,2\n"), "--workload", "queue"}, code: 1, want: "bad.csv:3"},
		{name: "signal the model lacks", args: []string{"--trace", tr, "--workload", "olap"}, code: 1, want: "reads backlog, which the workload does not report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, append([]string{"simulate", "-c", cfg}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.want)
			}
		})
	}
}

// simulate --trace --report DIR writes report.md beside the text output: it
// names ebb and the oracle with the rows the table printed, and every plot
// it links is a file in DIR.
func TestSimulateTraceReport(t *testing.T) {
	cfg, tr := write(t, "w.yaml", traceWorkers), write(t, "surge.csv", surge())
	dir := filepath.Join(t.TempDir(), "report")
	code, out, errs := run(t, "simulate", "-c", cfg, "--trace", tr, "--workload", "queue", "--compare", "oracle", "--seed", "3", "--report", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if errs != "" {
		t.Errorf("stderr %q; want nothing (no progress bar off a terminal)", errs)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 10 && (f[0] == "ebb" || f[0] == "oracle") {
			rows[f[0]] = "| " + strings.Join(f, " | ") + " |"
		}
	}
	if len(rows) != 2 {
		t.Fatalf("no ebb and oracle rows in the text output:\n%s", out)
	}
	for policy, row := range rows {
		if !strings.Contains(string(md), row+"\n") {
			t.Errorf("report.md lacks the %s row the table printed, %q:\n%s", policy, row, md)
		}
	}
	for _, want := range []string{"| workload | queue |", "| seed | 3 |", "| group | workers |", "| duration | 2h1m0s |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	if len(links) != 4 {
		t.Fatalf("report.md links %d plots; want 4:\n%s", len(links), md)
	}
	for _, l := range links {
		if filepath.IsAbs(l[1]) || strings.Contains(l[1], "/") {
			t.Errorf("plot link %q is not relative to the report", l[1])
		}
		fh, err := os.Open(filepath.Join(dir, l[1]))
		if err != nil {
			t.Fatal(err)
		}
		_, err = png.DecodeConfig(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s: %v", l[1], err)
		}
	}
}

// --workload FILE sets the model's settings and the simulated system's:
// a queue of 4 jobs per worker on a system that fails launches, at 15 s
// steps. The failures show in the summary, and the same run with the
// kind's defaults fails none.
func TestSimulateTraceWorldFile(t *testing.T) {
	cfg, tr := write(t, "w.yaml", traceWorkers), write(t, "surge.csv", surge())
	world := write(t, "world.yaml", `workload:
  queue: {service: {dist: exponential, mean: 20s}, per_worker: 4, max_wait: 2m}
system: {boot_jitter: 0.3, launch_failure: 0.3, throttle: 0.05}
`)
	failed := regexp.MustCompile(`(\d+) launches \((\d+) failed\), 0 jobs lost`)
	for _, tc := range []struct {
		workload string
		failures bool
	}{{world, true}, {"queue", false}} {
		code, out, errs := run(t, "simulate", "-c", cfg, "--trace", tr, "--workload", tc.workload, "--step", "15s", "--seed", "2")
		if code != 0 {
			t.Fatalf("--workload %s: exit %d: %s", tc.workload, code, errs)
		}
		m := failed.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("--workload %s: no launch summary with 0 jobs lost in:\n%s", tc.workload, out)
		}
		if got := m[2] != "0"; got != tc.failures {
			t.Errorf("--workload %s: %s launches, %s failed; want failures: %v", tc.workload, m[1], m[2], tc.failures)
		}
	}
}

// The oracle runs within the group's capacity.max: where the demand is
// above it no fleet of the group meets it, so the oracle runs the max and
// counts as in violation there.
func TestOracleWithinMax(t *testing.T) {
	f, err := config.Parse("g.yaml", []byte(traceWorkers)) // max 40, boot 60s
	if err != nil {
		t.Fatal(err)
	}
	demand := []float64{2, 2, 50, 50, 41, 40, 2, 2}
	out := &sim.Outcome{Demand: measure.Curve{Step: time.Minute, V: demand}}
	res, s, err := oracleResult(out, f.Groups[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Ready.V {
		if want := min(demand[i], 40); v < want || v > 40 {
			t.Errorf("step %d: oracle ready %v, want %v to 40", i, v, want)
		}
	}
	if want := []bool{false, false, true, true, true, false, false, false}; !slices.Equal(s.Violating, want) {
		t.Errorf("violating %v, want %v", s.Violating, want)
	}
	if res.SLOViolationFraction != 3.0/8 {
		t.Errorf("violation fraction %v, want 3/8", res.SLOViolationFraction)
	}
}
