package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim"
	"github.com/ebb-autoscaler/ebb/internal/sim/baseline"
	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
	"github.com/ebb-autoscaler/ebb/internal/sim/oracle"
	"github.com/ebb-autoscaler/ebb/internal/sim/report"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// traceRun is what `ebb simulate --trace` is asked.
type traceRun struct {
	cfg      *config.File
	group    string
	trace    string
	workload string
	scale    float64
	compress float64
	compare  []string
	seed     uint64
	start    time.Time
	asJSON   bool

	configPath string    // the config file, as the report names it
	reportDir  string    // --report: where to write report.md and its plots
	stderr     io.Writer // progress goes here when it is a terminal
}

// baselines are the policies --compare accepts: the oracle, then the peer
// autoscalers of internal/sim/baseline.
var baselines = append([]string{"oracle"}, baseline.Names...)

// simulateTrace runs the group's policy closed loop against the workload
// driven by the trace, and beside it the baselines asked for, and prints
// the comparison.
func simulateTrace(w io.Writer, r traceRun) error {
	for _, c := range r.compare {
		if !slices.Contains(baselines, c) {
			return usageError{fmt.Errorf("--compare %s: the baselines available are %s", c, strings.Join(baselines, ", "))}
		}
		if c != "oracle" {
			if err := baseline.Check(c, r.workload); err != nil {
				return usageError{fmt.Errorf("--compare %s: %w", c, err)}
			}
		}
	}
	group := r.group
	if group == "" {
		if len(r.cfg.Groups) != 1 {
			return usageError{fmt.Errorf("the config has %d groups: name the one to simulate with --group", len(r.cfg.Groups))}
		}
		group = r.cfg.Groups[0].Name
	}
	fh, err := os.Open(r.trace)
	if err != nil {
		return err
	}
	defer fh.Close()
	tr, err := trace.Read(r.trace, fh)
	if err != nil {
		return err
	}
	if r.scale != 1 {
		if tr, err = tr.Scale(r.scale); err != nil {
			return usageError{fmt.Errorf("--scale: %w", err)}
		}
	}
	if r.compress != 1 {
		if tr, err = tr.Compress(r.compress); err != nil {
			return usageError{fmt.Errorf("--compress: %w", err)}
		}
	}
	wc, err := workload.Defaults(r.workload)
	if err != nil {
		return usageError{fmt.Errorf("--workload: %w", err)}
	}
	m, err := workload.New(wc, r.seed)
	if err != nil {
		return err
	}
	bar := newProgress(r.stderr, "simulating")
	out, err := sim.RunClosed(r.cfg, group, tr, m, sim.ClosedOptions{Start: r.start, Seed: r.seed, Progress: bar.update})
	bar.clear()
	if err != nil {
		return err
	}
	res, err := out.Measures("ebb")
	if err != nil {
		return err
	}
	results := []measure.Result{res}
	curves := []report.Series{{Policy: "ebb", Ready: out.Ready, Running: out.Running, Violating: out.Violating}}
	for _, c := range r.compare {
		switch c {
		case "oracle":
			o, s, err := oracleResult(out, r.cfg, group)
			if err != nil {
				return err
			}
			results = append(results, o)
			curves = append(curves, s)
		default:
			b, s, err := baselineResult(r, group, tr, wc, c)
			if err != nil {
				return err
			}
			results = append(results, b)
			curves = append(curves, s)
		}
	}
	if r.reportDir != "" {
		if err := report.Write(r.reportDir, report.Input{
			Params: report.Params{Config: r.configPath, Group: group, Trace: r.trace, Workload: r.workload,
				Scale: r.scale, Compress: r.compress, Seed: r.seed, Duration: tr.Duration()},
			Summary: fmt.Sprintf("%d launches (%d failed), %d jobs lost.", out.Launches, out.Failures, int(out.Work.Lost)),
			Results: results, Demand: out.Demand, Series: curves, Trace: tr,
		}); err != nil {
			return fmt.Errorf("--report %s: %w", r.reportDir, err)
		}
	}
	if r.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Results []measure.Result `json:"results"`
		}{results})
	}
	return writeComparison(w, tr, r.workload, out, results)
}

// baselineResult runs the group rewritten as the named peer baseline on
// the same trace, workload and seed, and scores it.
func baselineResult(r traceRun, group string, tr *trace.Trace, wc workload.Config, name string) (measure.Result, report.Series, error) {
	gi := slices.IndexFunc(r.cfg.Groups, func(g config.Group) bool { return g.Name == group })
	if gi < 0 {
		return measure.Result{}, report.Series{}, fmt.Errorf("no group %q in the config", group)
	}
	bg, err := baseline.Apply(name, r.cfg.Groups[gi], wc)
	if err != nil {
		return measure.Result{}, report.Series{}, err
	}
	cfg := *r.cfg
	cfg.Groups, cfg.Budgets = []config.Group{bg}, nil
	m, err := workload.New(wc, r.seed)
	if err != nil {
		return measure.Result{}, report.Series{}, err
	}
	bar := newProgress(r.stderr, name)
	out, err := sim.RunClosed(&cfg, group, tr, m, sim.ClosedOptions{Start: r.start, Seed: r.seed, Progress: bar.update})
	bar.clear()
	if err != nil {
		return measure.Result{}, report.Series{}, fmt.Errorf("baseline %s: %w", name, err)
	}
	res, err := out.Measures(name)
	return res, report.Series{Policy: name, Ready: out.Ready, Running: out.Running, Violating: out.Violating}, err
}

// oracleResult scores the cheapest fleet that meets the run's demand with
// perfect foresight and the group's boot time, and returns its curves.
func oracleResult(out *sim.Outcome, cfg *config.File, group string) (measure.Result, report.Series, error) {
	var boot time.Duration
	for _, g := range cfg.Groups {
		if g.Name == group {
			boot = g.Lifecycle.Launch.Boot.D()
		}
	}
	demand := make([]int, len(out.Demand.V))
	for i, v := range out.Demand.V {
		demand[i] = int(v)
	}
	plan, err := oracle.Solve(demand, out.Demand.Step, boot)
	if err != nil {
		return measure.Result{}, report.Series{}, err
	}
	actions := 0
	for i := 1; i < len(plan.Running); i++ {
		if plan.Running[i] != plan.Running[i-1] {
			actions++
		}
	}
	s := report.Series{Policy: "oracle", Ready: measure.Ints(out.Demand.Step, plan.Ready),
		Running: measure.Ints(out.Demand.Step, plan.Running), Violating: make([]bool, len(demand))}
	res, err := measure.Measure(measure.Run{
		Policy: s.Policy, Demand: out.Demand, Ready: s.Ready, Running: s.Running, Violated: s.Violating, Actions: actions,
	})
	return res, s, err
}

func writeComparison(w io.Writer, tr *trace.Trace, kind string, out *sim.Outcome, results []measure.Result) error {
	fmt.Fprintf(w, "%s workload, %s of trace (peak %.4g/s, mean %.4g/s); %d launches (%d failed), %d jobs lost\n\n",
		kind, tr.Duration(), tr.Peak(), tr.Mean(), out.Launches, out.Failures, int(out.Work.Lost))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tinstance-hours\tSLO violated\tθU %\tθO %\tτU %\tτO %\tjitter/min\tactions\tlost\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f%%\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%d\t%.0f\t\n", r.Policy, r.CostInstanceHours,
			100*r.SLOViolationFraction, r.ThetaU, r.ThetaO, r.TauU, r.TauO, r.Jitter, r.Actions, r.LostWork)
	}
	return tw.Flush()
}

var errTraceAndSignals = errors.New("--trace drives a workload model and --signals replays recorded values: pass one")
