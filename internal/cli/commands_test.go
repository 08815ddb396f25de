package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := write(t, "ebb.yaml", `groups:
  - name: web
    capacity: {min: 5, max: 2}
    interval: fast
    signals: {cpu: {}}
    policies:
      - target: {signal: cpux, value: 0}
`)
	code, out, errs := run(t, "validate", "-c", p)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{
		p + ":3:21: groups[0].capacity.min: must be ≤ max (2)",
		p + ":4:15: groups[0].interval: must be a duration",
		p + `:7:26: groups[0].policies[0].target.signal: unknown signal "cpux"`,
		p + ":7:39: groups[0].policies[0].target.value: must be > 0",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// A group that runs instances without a drain action or a busy probe is
// told what scale-in will do to them.
func TestValidateSaysWhatDrainingDoes(t *testing.T) {
	p := write(t, "ebb.yaml", `groups:
  - name: web
    capacity: {max: 2}
    policies: [{fixed: {desired: 1}}]
    provider: {local: {command: [./server]}}
  - name: api
    capacity: {max: 2}
    policies: [{fixed: {desired: 1}}]
    provider: {local: {command: [./server]}}
    lifecycle: {drain: {signal: SIGUSR1}}
`)
	code, out, errs := run(t, "validate", "-c", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := p + ": valid: 2 groups, 2 policies\n" +
		"group web: no drain action or busy probe: scale-in sends SIGTERM, then SIGKILL after 30s\n"
	if out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
}

func TestValidateUsage(t *testing.T) {
	if code, _, errs := run(t, "validate"); code != 1 || !strings.Contains(errs, "no config: pass -c FILE") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "validate", "-c", "/nonexistent/ebb.yaml"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "valdate"); code != 2 || !strings.Contains(errs, `unknown command "valdate"`) {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, errs := run(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want, err := configKinds().Schema()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != strings.TrimSpace(string(want)) {
		t.Fatal("ebb schema differs from the registry's schema")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["$schema"] == nil || doc["properties"] == nil {
		t.Fatalf("schema lacks $schema or properties: %v", doc)
	}
}

func TestSimulateErrors(t *testing.T) {
	cfg := "../../examples/web.yaml"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no signals flag", args: []string{"simulate", "-c", cfg}, code: 2, want: "no input: pass --signals FILE.csv or --from-prometheus URL"},
		{name: "two inputs", args: []string{"simulate", "-c", cfg, "--signals", "s.csv", "--from-prometheus", "http://127.0.0.1:9090"}, code: 2, want: "pass one"},
		{name: "prometheus without a range", args: []string{"simulate", "-c", cfg, "--from-prometheus", "http://127.0.0.1:9090"}, code: 2, want: "--from-prometheus needs the time range"},
		{name: "end before start", args: []string{"simulate", "-c", cfg, "--from-prometheus", "http://127.0.0.1:9090", "--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"}, code: 2, want: "is not after --start"},
		{name: "end without prometheus", args: []string{"simulate", "-c", cfg, "--signals", "s.csv", "--end", "2026-01-01T00:00:00Z"}, code: 2, want: "go with --from-prometheus"},
		{name: "bad start", args: []string{"simulate", "-c", cfg, "--signals", write(t, "s.csv", "t,rps\n0,1\n"), "--start", "monday"}, code: 2, want: "--start must be an RFC 3339 time"},
		{name: "bad csv", args: []string{"simulate", "-c", cfg, "--signals", write(t, "s.csv", "t,rps\n0,1\n0,2\n")}, code: 1, want: "s.csv:3:1: t 0 is not after the previous row's 0"},
		{name: "bad config", args: []string{"simulate", "-c", write(t, "e.yaml", "groups: []\n"), "--signals", write(t, "s.csv", "t,x\n0,1\n")}, code: 1, want: "e.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.want)
			}
		})
	}
}

func TestRunAndDemoUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "run without a config", args: []string{"run"}, want: "no config: pass -c FILE"},
		{name: "run with a missing config", args: []string{"run", "-c", "/nonexistent/ebb.yaml"}, want: "no such file"},
		{name: "run with an invalid config", args: []string{"run", "-c", write(t, "bad.yaml", "groups: []\n")}, want: "groups: required: at least one group"},
		{name: "run with a bad log level", args: []string{"run", "-c", "x", "--log-level", "loud"}, want: "--log-level"},
		{name: "demo too short", args: []string{"demo", "--duration", "100ms"}, want: "--duration 100ms is shorter than 1s"},
		{name: "demo at no speed", args: []string{"demo", "--speed", "0"}, want: "--speed must be > 0"},
		{name: "scale without --desired", args: []string{"scale", "web"}, want: "pass --desired N"},
		{name: "status of nothing", args: []string{"status", "--api", "http://127.0.0.1:1"}, want: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, tt.args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", code, errs, tt.want)
			}
		})
	}
}
