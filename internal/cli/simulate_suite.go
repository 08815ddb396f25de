package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim/baseline"
	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
	"github.com/ebb-autoscaler/ebb/internal/sim/report"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// suite is a file of closed-loop comparisons run by one command, `ebb
// simulate --suite FILE --report PAGE.md`: each case is what one `ebb
// simulate --trace` would run, and the page gathers their tables and
// plots. Paths are relative to the suite file.
type suite struct {
	Title    string      `yaml:"title" default:"Simulation" doc:"The page's title."`
	Intro    string      `yaml:"intro" doc:"Markdown under the title: what the cases show and how to read them."`
	Findings string      `yaml:"findings" doc:"Markdown after the summary: what the results mean, and why a goal is missed."`
	Seed     int         `yaml:"seed" default:"1" doc:"Seeds every case's workload and system; ≥ 0."`
	Compare  []string    `yaml:"compare" doc:"Baselines beside each case's own policy (as --compare); a case runs those that apply to its workload."`
	Goal     suiteGoal   `yaml:"goal" doc:"What the summary checks each case's own policy against."`
	Cases    []suiteCase `yaml:"cases" doc:"The runs, in the page's order. Required."`
}

// suiteGoal is the bar a case's own policy is held to.
type suiteGoal struct {
	OverOracle float64 `yaml:"over_oracle" default:"0.1" doc:"At most this much dearer than the oracle (0.1: 10% more instance-hours)."`
	Violation  float64 `yaml:"violation" default:"0.005" doc:"Less than this fraction of the time in SLO violation."`
}

// suiteCase is one run: the flags of `ebb simulate --trace`.
type suiteCase struct {
	Name     string          `yaml:"name" doc:"Names the case's section and its report's directory: letters, digits, '-' and '_'. Required."`
	Config   string          `yaml:"config" doc:"The ebb config. Required."`
	Group    string          `yaml:"group" doc:"The group to simulate, when the config has several."`
	Workload string          `yaml:"workload" doc:"A workload kind, or a file of the model's and the system's settings (as --workload). Required."`
	Trace    string          `yaml:"trace" doc:"The arrival-rate CSV (as --trace). Required."`
	Scale    float64         `yaml:"scale" default:"1" doc:"Multiplies the trace's rates."`
	Compress float64         `yaml:"compress" default:"1" doc:"Plays the trace this many times faster."`
	Step     config.Duration `yaml:"step" default:"1s" doc:"The simulation's resolution."`
}

var caseName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Validate checks the suite; files are read when it runs.
func (s *suite) Validate() error {
	var errs []error
	if len(s.Cases) == 0 {
		errs = append(errs, config.Problem("cases", "required: at least one case"))
	}
	for _, c := range s.Compare {
		if !slices.Contains(baselines, c) {
			errs = append(errs, config.Problem("compare", "%s is not a baseline: the baselines are %s", c, strings.Join(baselines, ", ")))
		}
	}
	if s.Seed < 0 {
		errs = append(errs, config.Problem("seed", "must be ≥ 0, not %d", s.Seed))
	}
	if !(s.Goal.OverOracle >= 0) {
		errs = append(errs, config.Problem("goal.over_oracle", "must be ≥ 0, not %g", s.Goal.OverOracle))
	}
	if !(s.Goal.Violation > 0 && s.Goal.Violation <= 1) {
		errs = append(errs, config.Problem("goal.violation", "must be a fraction in (0, 1], not %g", s.Goal.Violation))
	}
	seen := map[string]bool{}
	for i, c := range s.Cases {
		p := fmt.Sprintf("cases[%d].", i)
		switch {
		case !caseName.MatchString(c.Name):
			errs = append(errs, config.Problem(p+"name", "must be letters, digits, '-' and '_', not %q", c.Name))
		case seen[c.Name]:
			errs = append(errs, config.Problem(p+"name", "%s names two cases", c.Name))
		}
		seen[c.Name] = true
		for _, f := range []struct{ key, v string }{{"config", c.Config}, {"workload", c.Workload}, {"trace", c.Trace}} {
			if f.v == "" {
				errs = append(errs, config.Problem(p+f.key, "required"))
			}
		}
		if !(c.Scale > 0) {
			errs = append(errs, config.Problem(p+"scale", "must be > 0, not %g", c.Scale))
		}
		if !(c.Compress > 0) {
			errs = append(errs, config.Problem(p+"compress", "must be > 0, not %g", c.Compress))
		}
		if c.Step.D() <= 0 {
			errs = append(errs, config.Problem(p+"step", "must be > 0, not %s", c.Step))
		}
	}
	return errors.Join(errs...)
}

// suiteRun is what `ebb simulate --suite` is asked.
type suiteRun struct {
	file   string // the suite, as given
	page   string // --report: the page to write; its plots go in the directory beside it of the same name
	start  time.Time
	stdout io.Writer
	stderr io.Writer
}

// caseOutcome is one case's comparison, as the page shows it.
type caseOutcome struct {
	c       suiteCase
	kind    string
	res     *traceResult
	compare []string
}

// simulateSuite runs every case of the suite and writes the page.
func simulateSuite(r suiteRun) error {
	if !strings.HasSuffix(r.page, ".md") {
		return usageError{fmt.Errorf("--report %q: with --suite, name the Markdown page to write (PAGE.md); its plots go in the directory PAGE beside it", r.page)}
	}
	data, err := os.ReadFile(r.file)
	if err != nil {
		return err
	}
	var s suite
	if err := config.Decode(r.file, data, &s); err != nil {
		return err
	}
	dir := filepath.Dir(r.file)
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	plots := strings.TrimSuffix(r.page, ".md")
	var outs []caseOutcome
	for _, c := range s.Cases {
		cfg, _, err := load(rel(c.Config))
		if err != nil {
			return caseError(c.Name, err)
		}
		wl := c.Workload
		if !slices.Contains(workload.Kinds, wl) {
			wl = rel(wl)
		}
		world, err := loadWorld(wl)
		if err != nil {
			return caseError(c.Name, err)
		}
		kind := baseline.Kind(world.Workload)
		var compare []string
		for _, b := range s.Compare {
			if b == "oracle" || baseline.Check(b, kind) == nil {
				compare = append(compare, b)
			}
		}
		tr := traceRun{cfg: cfg, group: c.Group, trace: rel(c.Trace), workload: wl, scale: c.Scale, compress: c.Compress,
			step: c.Step.D(), compare: compare, seed: uint64(s.Seed), start: r.start, stderr: r.stderr, label: c.Name}
		res, err := runTrace(tr)
		if err != nil {
			return caseError(c.Name, err)
		}
		params := report.Params{Config: c.Config, Group: res.group, Trace: c.Trace, Workload: c.Workload,
			Scale: c.Scale, Compress: c.Compress, Seed: uint64(s.Seed), Duration: res.trace.Duration()}
		if err := writeReport(filepath.Join(plots, c.Name), params, res); err != nil {
			return caseError(c.Name, err)
		}
		o := caseOutcome{c: c, kind: kind, res: res, compare: compare}
		fmt.Fprintf(r.stdout, "%s: %s\n", c.Name, o.verdict(s.Goal))
		outs = append(outs, o)
	}
	page := suitePage(s, r, filepath.Base(plots), outs)
	if err := os.WriteFile(r.page, page, 0o644); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	fmt.Fprintf(r.stdout, "wrote %s and its plots in %s\n", r.page, plots)
	return nil
}

// caseError names the case a problem is in. The problem is the suite
// file's, not the command line's: a case's bad flag value (its workload,
// its scale) is not a usage error of the command.
func caseError(name string, err error) error {
	var ue usageError
	if errors.As(err, &ue) {
		err = ue.err
	}
	return fmt.Errorf("case %s: %w", name, err)
}

// result is the named policy's result in the case, if it ran.
func (o caseOutcome) result(policy string) (measure.Result, bool) {
	i := slices.IndexFunc(o.res.results, func(r measure.Result) bool { return r.Policy == policy })
	if i < 0 {
		return measure.Result{}, false
	}
	return o.res.results[i], true
}

// overOracle is how much dearer the case's own policy is than the oracle,
// as a fraction; false without an oracle.
func (o caseOutcome) overOracle() (float64, bool) {
	or, ok := o.result("oracle")
	if !ok || or.CostInstanceHours <= 0 {
		return 0, false
	}
	return o.res.results[0].CostInstanceHours/or.CostInstanceHours - 1, true
}

// dominating are the baselines both cheaper and less in violation than
// the case's own policy (one of the two strictly).
func (o caseOutcome) dominating() []measure.Result {
	own := o.res.results[0]
	var out []measure.Result
	for _, r := range o.res.results[1:] {
		if r.Policy == "oracle" {
			continue
		}
		if r.CostInstanceHours <= own.CostInstanceHours && r.SLOViolationFraction <= own.SLOViolationFraction &&
			(r.CostInstanceHours < own.CostInstanceHours || r.SLOViolationFraction < own.SLOViolationFraction) {
			out = append(out, r)
		}
	}
	return out
}

// meets reports whether the case's own policy meets the goal.
func (o caseOutcome) meets(g suiteGoal) bool {
	over, ok := o.overOracle()
	return ok && over <= g.OverOracle && o.res.results[0].SLOViolationFraction < g.Violation && len(o.dominating()) == 0
}

// verdict is the case's one-line summary.
func (o caseOutcome) verdict(g suiteGoal) string {
	own := o.res.results[0]
	var b strings.Builder
	fmt.Fprintf(&b, "ebb %.1f instance-hours", own.CostInstanceHours)
	if over, ok := o.overOracle(); ok {
		fmt.Fprintf(&b, " (%+.1f%% vs the oracle)", 100*over)
	}
	fmt.Fprintf(&b, ", %.2f%% of the time in violation", 100*own.SLOViolationFraction)
	if d := o.dominating(); len(d) > 0 {
		var names []string
		for _, r := range d {
			names = append(names, r.Policy)
		}
		fmt.Fprintf(&b, "; cheaper and less in violation: %s", strings.Join(names, ", "))
	}
	if o.meets(g) {
		b.WriteString("; meets the goal")
	} else {
		b.WriteString("; misses the goal")
	}
	return b.String()
}

// suitePage is the Markdown page of a suite's run: a summary, then each
// case's table and demand plot, linking its full report.
func suitePage(s suite, r suiteRun, plots string, outs []caseOutcome) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", s.Title)
	if in := strings.TrimSpace(s.Intro); in != "" {
		fmt.Fprintf(&b, "%s\n\n", in)
	}
	fmt.Fprintf(&b, "Made by `ebb simulate --suite %s --report %s` (seed %d); run it again to remake this page and its plots.\n\n",
		filepath.ToSlash(r.file), filepath.ToSlash(r.page), s.Seed)
	b.WriteString("## Summary\n\n")
	met := 0
	for _, o := range outs {
		if o.meets(s.Goal) {
			met++
		}
	}
	fmt.Fprintf(&b, "The goal: at most %g%% more instance-hours than the oracle, under %g%% of the time in SLO violation, and no baseline both cheaper and less in violation. ebb meets it in %d of %d cases.\n\n",
		100*s.Goal.OverOracle, 100*s.Goal.Violation, met, len(outs))
	row := func(c ...string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(c, " | ")) }
	row("case", "workload", "trace", "ebb instance-hours", "vs oracle", "SLO violated", "cheaper and less in violation", "goal")
	row("---", "---", "---", "---:", "---:", "---:", "---", "---")
	for _, o := range outs {
		own := o.res.results[0]
		vs := "–"
		if over, ok := o.overOracle(); ok {
			vs = fmt.Sprintf("%+.1f%%", 100*over)
		}
		var dom []string
		for _, d := range o.dominating() {
			dom = append(dom, d.Policy)
		}
		if len(dom) == 0 {
			dom = []string{"none"}
		}
		goal := "missed"
		if o.meets(s.Goal) {
			goal = "met"
		}
		row(fmt.Sprintf("[%s](#%s)", o.c.Name, strings.ToLower(o.c.Name)), o.kind, "`"+filepath.Base(o.c.Trace)+"`",
			fmt.Sprintf("%.1f", own.CostInstanceHours), vs, fmt.Sprintf("%.2f%%", 100*own.SLOViolationFraction), strings.Join(dom, ", "), goal)
	}
	if f := strings.TrimSpace(s.Findings); f != "" {
		fmt.Fprintf(&b, "\n%s\n", f)
	}
	for _, o := range outs {
		c := o.c
		fmt.Fprintf(&b, "\n## %s\n\n", c.Name)
		fmt.Fprintf(&b, "`%s` (group %s) on the %s workload of `%s`, driven by `%s` × %g", c.Config, o.res.group, o.kind, c.Workload, c.Trace, c.Scale)
		if c.Compress != 1 {
			fmt.Fprintf(&b, ", compressed %g×", c.Compress)
		}
		fmt.Fprintf(&b, ": %s at %s steps, peak %.4g/s, mean %.4g/s. %d launches (%d failed), %d jobs lost.\n\n",
			o.res.trace.Duration(), c.Step.D(), o.res.trace.Peak(), o.res.trace.Mean(), o.res.out.Launches, o.res.out.Failures, int(o.res.out.Work.Lost))
		report.Table(&b, o.res.results)
		link := plots + "/" + c.Name
		fmt.Fprintf(&b, "\n![%s: demand and each policy's ready instances](%s/%s)\n\n", c.Name, link, report.DemandPlot)
		fmt.Fprintf(&b, "[The full report](%s/%s): billed instances, violations over time, the arrivals.\n", link, report.Markdown)
	}
	return b.Bytes()
}
