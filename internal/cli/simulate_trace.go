package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
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
	workload string // a workload kind, or a world file (sim.World)
	scale    float64
	compress float64
	step     time.Duration // the simulation's resolution; 0: 1s
	compare  []string
	seed     uint64
	start    time.Time
	asJSON   bool

	configPath string    // the config file, as the report names it
	reportDir  string    // --report: where to write report.md and its plots
	stderr     io.Writer // progress goes here when it is a terminal
	label      string    // prefixes the progress bar (a suite's case)
}

// traceResult is one closed-loop comparison: the group's own run and
// every result beside it.
type traceResult struct {
	group   string
	kind    string // the workload kind
	trace   *trace.Trace
	out     *sim.Outcome // the group's own policy's run
	results []measure.Result
	series  []report.Series
}

// baselines are the policies --compare accepts: the oracle, then the peer
// autoscalers of internal/sim/baseline.
var baselines = append([]string{"oracle"}, baseline.Names...)

// checkCompare reports a --compare name that is not a baseline, or that
// the workload kind cannot run.
func checkCompare(names []string, kind string) error {
	for _, c := range names {
		if !slices.Contains(baselines, c) {
			return fmt.Errorf("--compare %s: the baselines available are %s", c, strings.Join(baselines, ", "))
		}
		if c != "oracle" {
			if err := baseline.Check(c, kind); err != nil {
				return fmt.Errorf("--compare %s: %w", c, err)
			}
		}
	}
	return nil
}

// loadWorld is --workload: a kind at its defaults with a faultless system,
// or a world file.
func loadWorld(arg string) (sim.World, error) {
	if slices.Contains(workload.Kinds, arg) {
		wc, err := workload.Defaults(arg)
		return sim.World{Workload: wc}, err
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return sim.World{}, usageError{fmt.Errorf("--workload %s: neither a workload kind (%s) nor a file", arg, strings.Join(workload.Kinds, ", "))}
		}
		return sim.World{}, fmt.Errorf("--workload: %w", err)
	}
	return sim.LoadWorld(arg, data)
}

// simulateTrace runs the group's policy closed loop against the workload
// driven by the trace, and beside it the baselines asked for, and prints
// the comparison.
func simulateTrace(w io.Writer, r traceRun) error {
	res, err := runTrace(r)
	if err != nil {
		return err
	}
	if r.reportDir != "" {
		if err := writeTraceReport(r, res); err != nil {
			return err
		}
	}
	if r.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Results []measure.Result `json:"results"`
		}{res.results})
	}
	return writeComparison(w, res.trace, res.kind, res.out, res.results)
}

// writeTraceReport writes the run's report into r.reportDir.
func writeTraceReport(r traceRun, res *traceResult) error {
	err := writeReport(r.reportDir, report.Params{Config: r.configPath, Group: res.group, Trace: r.trace, Workload: r.workload,
		Scale: r.scale, Compress: r.compress, Seed: r.seed, Duration: res.trace.Duration()}, res)
	if err != nil {
		return fmt.Errorf("--report %s: %w", r.reportDir, err)
	}
	return nil
}

// writeReport writes a comparison's report into dir.
func writeReport(dir string, p report.Params, res *traceResult) error {
	return report.Write(dir, report.Input{
		Params:  p,
		Summary: fmt.Sprintf("%d launches (%d failed), %d jobs lost.", res.out.Launches, res.out.Failures, int(res.out.Work.Lost)),
		Results: res.results, Demand: res.out.Demand, Series: res.series, Trace: res.trace,
	})
}

// runTrace runs the comparison r asks for.
func runTrace(r traceRun) (*traceResult, error) {
	world, err := loadWorld(r.workload)
	if err != nil {
		return nil, err
	}
	kind := baseline.Kind(world.Workload)
	if err := checkCompare(r.compare, kind); err != nil {
		return nil, usageError{err}
	}
	group := r.group
	if group == "" {
		if len(r.cfg.Groups) != 1 {
			return nil, usageError{fmt.Errorf("the config has %d groups: name the one to simulate with --group", len(r.cfg.Groups))}
		}
		group = r.cfg.Groups[0].Name
	}
	gi := slices.IndexFunc(r.cfg.Groups, func(g config.Group) bool { return g.Name == group })
	if gi < 0 {
		return nil, usageError{fmt.Errorf("--group %s: no such group in the config", group)}
	}
	fh, err := os.Open(r.trace)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	tr, err := trace.Read(r.trace, fh)
	if err != nil {
		return nil, err
	}
	if r.scale != 1 {
		if tr, err = tr.Scale(r.scale); err != nil {
			return nil, usageError{fmt.Errorf("--scale: %w", err)}
		}
	}
	if r.compress != 1 {
		if tr, err = tr.Compress(r.compress); err != nil {
			return nil, usageError{fmt.Errorf("--compress: %w", err)}
		}
	}
	if r.step < 0 || r.step > 0 && tr.Duration() < r.step {
		return nil, usageError{fmt.Errorf("--step %s: must be > 0 and no longer than the trace (%s)", r.step, tr.Duration())}
	}
	// ebb's run and each baseline's are independent: they run at once,
	// as many as there are cores, under one progress bar.
	names, cfgs := []string{"ebb"}, []*config.File{r.cfg}
	for _, c := range r.compare {
		if c == "oracle" {
			continue
		}
		bg, err := baseline.Apply(c, r.cfg.Groups[gi], world.Workload)
		if err != nil {
			return nil, err
		}
		cfg := *r.cfg
		cfg.Groups, cfg.Budgets = []config.Group{bg}, nil
		names, cfgs = append(names, c), append(cfgs, &cfg)
	}
	bar := newProgressParts(newProgress(r.stderr, strings.TrimPrefix(r.label+" "+strings.Join(names, " "), " ")), len(names))
	outs, errs := make([]*sim.Outcome, len(names)), make([]error, len(names))
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range names {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			m, err := workload.New(world.Workload, r.seed)
			if err != nil {
				errs[i] = err
				return
			}
			outs[i], errs[i] = sim.RunClosed(cfgs[i], group, tr, m, sim.ClosedOptions{Start: r.start, Step: r.step, Seed: r.seed,
				Infra: world.System.Infra(), Progress: bar.part(i)})
		})
	}
	wg.Wait()
	bar.clear()
	if errs[0] != nil {
		return nil, errs[0]
	}
	for i, err := range errs[1:] {
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", names[i+1], err)
		}
	}
	res := &traceResult{group: group, kind: kind, trace: tr, out: outs[0]}
	add := func(policy string, o *sim.Outcome) error {
		m, err := o.Measures(policy)
		if err != nil {
			return err
		}
		res.results = append(res.results, m)
		res.series = append(res.series, report.Series{Policy: policy, Ready: o.Ready, Running: o.Running, Violating: o.Violating})
		return nil
	}
	if err := add("ebb", outs[0]); err != nil {
		return nil, err
	}
	next := 1
	for _, c := range r.compare {
		if c == "oracle" {
			o, s, err := oracleResult(outs[0], r.cfg.Groups[gi])
			if err != nil {
				return nil, err
			}
			res.results, res.series = append(res.results, o), append(res.series, s)
			continue
		}
		if err := add(c, outs[next]); err != nil {
			return nil, err
		}
		next++
	}
	return res, nil
}

// oracleResult scores the cheapest fleet that meets the run's demand with
// perfect foresight and the group's boot time, within the group's
// capacity.max, and returns its curves. Where the demand is above the
// max, no fleet of the group meets it: the oracle runs the max and is in
// violation there.
func oracleResult(out *sim.Outcome, g config.Group) (measure.Result, report.Series, error) {
	demand := make([]int, len(out.Demand.V))
	violating := make([]bool, len(demand))
	for i, v := range out.Demand.V {
		demand[i] = int(v)
		if demand[i] > g.Capacity.Max {
			demand[i], violating[i] = g.Capacity.Max, true
		}
	}
	plan, err := oracle.Solve(demand, out.Demand.Step, g.Lifecycle.Launch.Boot.D())
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
		Running: measure.Ints(out.Demand.Step, plan.Running), Violating: violating}
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
