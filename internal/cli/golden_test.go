package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// run calls Main as the process would and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs; rerun with -update and review the diff.\n--- got:\n%s", path, got)
	}
}

// Each directory under testdata/scenarios holds config.yaml and signals.csv;
// the replay's text and JSON outputs are golden files beside them.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/scenarios/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := []string{"simulate", "-c", filepath.Join(dir, "config.yaml"), "--signals", filepath.Join(dir, "signals.csv")}
			code, out, errs := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, filepath.Join(dir, "want.txt"), out)
			code, out, errs = run(t, append(args, "--json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, filepath.Join(dir, "want.json"), out)
			code, out, errs = run(t, append(args, "--explain")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, filepath.Join(dir, "want-explain.txt"), out)
		})
	}
}

// Every example config validates, and each one with a CSV beside it replays:
// the README's first command among them.
func TestExamples(t *testing.T) {
	configs, err := filepath.Glob("../../examples/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	configs = append(configs, more...)
	if err != nil || len(configs) < 4 {
		t.Fatalf("want at least 4 examples, found %d (%v)", len(configs), err)
	}
	for _, c := range configs {
		if simulationFile(c) {
			continue // not a config: TestSimulationExamples reads them
		}
		name := strings.TrimSuffix(filepath.Base(c), ".yaml")
		dir := filepath.Dir(c)
		if sub := filepath.Base(dir); sub != "examples" {
			name = sub + "-" + name // examples/exec/flink.yaml is exec-flink
		}
		t.Run(name, func(t *testing.T) {
			code, out, errs := run(t, "validate", "-c", c)
			if code != 0 || !strings.Contains(out, "valid") {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errs)
			}
			csvs, _ := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(filepath.Base(c), ".yaml")+"*.csv"))
			switch len(csvs) {
			case 0: // a config for ebb run only
				return
			case 1:
			default:
				t.Fatalf("want at most one CSV for %s, found %v", name, csvs)
			}
			code, out, errs = run(t, "simulate", "-c", c, "--signals", csvs[0])
			if code != 0 {
				t.Fatalf("simulate: exit %d\n%s", code, errs)
			}
			golden(t, filepath.Join("testdata", "examples", name+".txt"), out)
		})
	}
}

// simulationFile reports whether an example is a simulation's world or
// suite file rather than an ebb config.
func simulationFile(path string) bool {
	base := filepath.Base(path)
	return filepath.Base(filepath.Dir(path)) == "simulation" && (strings.HasSuffix(base, "-world.yaml") || base == "suite.yaml")
}

// The simulation examples' world files and suite decode and validate, and
// every file the suite names exists: docs/simulation.md is made from them.
func TestSimulationExamples(t *testing.T) {
	worlds, err := filepath.Glob("../../examples/simulation/*-world.yaml")
	if err != nil || len(worlds) != 4 {
		t.Fatalf("want a world file per workload kind, found %v (%v)", worlds, err)
	}
	for _, w := range worlds {
		if _, err := loadWorld(w); err != nil {
			t.Errorf("%s: %v", w, err)
		}
	}
	const suitePath = "../../examples/simulation/suite.yaml"
	data, err := os.ReadFile(suitePath)
	if err != nil {
		t.Fatal(err)
	}
	var s suite
	if err := config.Decode(suitePath, data, &s); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Cases {
		for _, f := range []string{c.Config, c.Trace, c.Workload} {
			if f == c.Workload && slices.Contains(workload.Kinds, f) {
				continue
			}
			if _, err := os.Stat(filepath.Join("../../examples/simulation", f)); err != nil {
				t.Errorf("case %s: %v", c.Name, err)
			}
		}
	}
}
