package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// suiteDir is a directory holding a suite of two cases (the surge on a
// queue, with a world file, and on a service at its defaults) and the
// files they name, by paths relative to the suite.
func suiteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"configs/workers.yaml": traceWorkers,
		"configs/web.yaml": `groups:
  - name: web
    capacity: {min: 1, max: 40}
    interval: 15s
    signals: {utilization: {stale: 1m}}
    policies: [{target: {signal: utilization, value: 0.7}}]
    lifecycle: {launch: {boot: 60s}}
`,
		"worlds/queue.yaml": "workload:\n  queue: {service: {dist: exponential, mean: 20s}, per_worker: 4, max_wait: 2m}\nsystem: {boot_jitter: 0.2}\n",
		"surge.csv":         surge(),
		"nowhere.yaml":      "cases: [{name: surge-queue, config: configs/workers.yaml, workload: worlds/none.yaml, trace: surge.csv}]\n",
		"suite.yaml": `title: Two cases
intro: |
  What the surge does to two groups.
findings: |
  ### What it shows
  Both scale out.
seed: 3
compare: [oracle, hpa, keda]
cases:
  - {name: surge-queue, config: configs/workers.yaml, workload: worlds/queue.yaml, trace: surge.csv, step: 5s}
  - {name: surge-service, config: configs/web.yaml, workload: service, trace: surge.csv, scale: 100}
`,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// simulate --suite runs every case and writes one page: the summary lists
// both cases with a verdict that follows from their own rows, each case's
// table has its policies (keda only beside the queue: it does not apply
// to a service), every link is a file written beside the page, and a
// second run writes the same page byte for byte.
func TestSimulateSuite(t *testing.T) {
	dir := suiteDir(t)
	page := filepath.Join(t.TempDir(), "sim.md")
	code, out, errs := run(t, "simulate", "--suite", filepath.Join(dir, "suite.yaml"), "--report", page)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, c := range []string{"surge-queue: ebb ", "surge-service: ebb ", "wrote " + page} {
		if !strings.Contains(out, c) {
			t.Errorf("output lacks %q:\n%s", c, out)
		}
	}
	md, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(md)
	for _, want := range []string{"# Two cases\n\nWhat the surge does to two groups.\n", "(seed 3)", " |\n\n### What it shows\nBoth scale out.\n\n## surge-queue",
		"| [surge-queue](#surge-queue) | queue | `surge.csv` |", "| [surge-service](#surge-service) | service | `surge.csv` |",
		"## surge-queue\n\n`configs/workers.yaml` (group workers) on the queue workload of `worlds/queue.yaml`, driven by `surge.csv` × 1: 2h1m0s at 5s steps",
		"## surge-service\n\n`configs/web.yaml` (group web) on the service workload of `service`, driven by `surge.csv` × 100: 2h1m0s at 1s steps"} {
		if !strings.Contains(doc, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	queue, service := doc[strings.Index(doc, "## surge-queue"):strings.Index(doc, "## surge-service")], doc[strings.Index(doc, "## surge-service"):]
	for _, p := range []string{"| ebb |", "| oracle |", "| hpa |", "| keda |"} {
		if !strings.Contains(queue, p) {
			t.Errorf("the queue case lacks the row %s", p)
		}
	}
	if strings.Contains(service, "| keda |") || !strings.Contains(service, "| hpa |") {
		t.Errorf("the service case's rows: want hpa, not keda:\n%s", service)
	}
	// The summary's verdict agrees with the case's own rows.
	sum := regexp.MustCompile(`\| \[(surge-\w+)\]\(#[^)]+\) \| \w+ \| [^|]+ \| ([\d.]+) \| ([+-][\d.]+)% \| ([\d.]+)% \| ([^|]+) \| (met|missed) \|`)
	rows := sum.FindAllStringSubmatch(doc, -1)
	if len(rows) != 2 {
		t.Fatalf("summary rows: %q\n%s", rows, doc)
	}
	for _, r := range rows {
		over, viol, dominated := atof(t, r[3]), atof(t, r[4]), strings.TrimSpace(r[5]) != "none"
		if met := over <= 10 && viol < 0.5 && !dominated; met != (r[6] == "met") {
			t.Errorf("%s: %s%% vs the oracle, %s%% violated, dominated by %s: the summary says %s", r[1], r[3], r[4], r[5], r[6])
		}
	}
	for _, l := range regexp.MustCompile(`\]\(([^)#]+)\)`).FindAllStringSubmatch(doc, -1) {
		if _, err := os.Stat(filepath.Join(filepath.Dir(page), l[1])); err != nil {
			t.Errorf("link %s: %v", l[1], err)
		}
	}
	if code, _, errs := run(t, "simulate", "--suite", filepath.Join(dir, "suite.yaml"), "--report", page); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, errs)
	}
	if again, _ := os.ReadFile(page); string(again) != doc {
		t.Error("a second run of the same suite wrote another page")
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

func TestSimulateSuiteErrors(t *testing.T) {
	dir := suiteDir(t)
	suite := filepath.Join(dir, "suite.yaml")
	bad := write(t, "bad.yaml", `compare: [oracle, nomad]
goal: {violation: 0}
cases:
  - {name: a, config: c.yaml, workload: queue, trace: t.csv}
  - {name: a, workload: queue, trace: t.csv, scale: 0}
  - {name: "b c", config: c.yaml, workload: queue, trace: t.csv, steps: 1s}
`)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{name: "no report", args: []string{"--suite", suite}, code: 2, want: []string{"--suite needs --report PAGE.md"}},
		{name: "report not a page", args: []string{"--suite", suite, "--report", t.TempDir()}, code: 2, want: []string{"with --suite, name the Markdown page to write"}},
		{name: "flags of a case", args: []string{"--suite", suite, "--report", "x.md", "--seed", "2"}, code: 2, want: []string{"--seed goes in the file"}},
		{name: "unknown key", args: []string{"--suite", bad, "--report", "x.md"}, code: 1, want: []string{`bad.yaml:6:66: cases[2]: unknown key "steps"; did you mean "step"?`}},
		{name: "missing case file", args: []string{"--suite", write(t, "s.yaml", "cases: [{name: a, config: nothere.yaml, workload: queue, trace: t.csv}]\n"), "--report", filepath.Join(t.TempDir(), "x.md")},
			code: 1, want: []string{"case a:", "nothere.yaml"}},
		{name: "missing world file", args: []string{"--suite", filepath.Join(dir, "nowhere.yaml"), "--report", filepath.Join(t.TempDir(), "x.md")},
			code: 1, want: []string{"case surge-queue: --workload " + filepath.Join(dir, "worlds/none.yaml") + ": neither a workload kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, append([]string{"simulate"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
		})
	}
	// Every problem of a suite that decodes is reported at once.
	good := strings.Replace(readFile(t, bad), ", steps: 1s", "", 1)
	code, _, errs := run(t, "simulate", "--suite", write(t, "bad2.yaml", good), "--report", "x.md")
	for _, w := range []string{
		`compare: nomad is not a baseline`,
		`goal.violation: must be a fraction in (0, 1], not 0`,
		`cases[1].name: a names two cases`,
		`cases[1].config: required`,
		`cases[1].scale: must be > 0, not 0`,
		`cases[2].name: must be letters, digits, '-' and '_', not "b c"`,
	} {
		if code != 1 || !strings.Contains(errs, w) {
			t.Errorf("exit %d, stderr %q lacks %q", code, errs, w)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
