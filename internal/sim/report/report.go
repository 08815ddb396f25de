package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/sim/measure"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
)

// Params are the run's settings, as the report lists them.
type Params struct {
	Config   string // the config file, as given
	Group    string
	Trace    string // the trace file, as given
	Workload string
	Scale    float64
	Compress float64
	Seed     uint64
	Duration time.Duration // the trace's, after --compress
}

// Series is one policy's curves, on the demand curve's step.
type Series struct {
	Policy    string
	Ready     measure.Curve // instances serving: the supply
	Running   measure.Curve // instances billed
	Violating []bool        // per step: the SLO was violated
}

// Input is everything a report shows.
type Input struct {
	Params Params
	// Summary is a line under the parameters (what the system did); it may
	// be empty.
	Summary string
	// Results are the comparison's rows, in order.
	Results []measure.Result
	// Demand is the instances the workload needs, per step.
	Demand measure.Curve
	// Series are the policies' curves; a result without one is in the
	// table and not in the plots.
	Series []Series
	// Trace is the arrival rate that drove the run.
	Trace *trace.Trace
}

// The files Write creates in its directory.
const (
	Markdown       = "report.md"
	DemandPlot     = "demand.png"
	RunningPlot    = "running.png"
	ViolationsPlot = "violations.png"
	ArrivalsPlot   = "arrivals.png"
)

// Write renders in into dir, which it creates if needed: the Markdown
// report and its plots. It overwrites files of the same names.
func Write(dir string, in Input) error {
	if err := check(in); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create the report directory: %w", err)
	}
	for _, p := range plots(in) {
		if err := p.save(filepath.Join(dir, p.file)); err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, Markdown), markdown(in), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// check reports every curve that does not cover the demand curve's steps.
func check(in Input) error {
	var errs []error
	n := len(in.Demand.V)
	if n == 0 || in.Demand.Step <= 0 {
		return errors.New("report input: the demand curve is empty")
	}
	for _, s := range in.Series {
		for _, c := range []struct {
			what string
			c    measure.Curve
		}{{"ready", s.Ready}, {"running", s.Running}} {
			if len(c.c.V) != n || c.c.Step != in.Demand.Step {
				errs = append(errs, fmt.Errorf("report input: %s: %s curve has %d samples every %v, demand %d every %v",
					s.Policy, c.what, len(c.c.V), c.c.Step, n, in.Demand.Step))
			}
		}
		if len(s.Violating) != n {
			errs = append(errs, fmt.Errorf("report input: %s: %d violation flags for %d demand samples", s.Policy, len(s.Violating), n))
		}
	}
	if in.Trace == nil {
		errs = append(errs, errors.New("report input: no trace"))
	}
	return errors.Join(errs...)
}

// columns are the comparison's, as the text output names them.
var columns = []string{"policy", "instance-hours", "SLO violated", "θU %", "θO %", "τU %", "τO %", "jitter/min", "actions", "lost"}

// cells formats a result as the text output does.
func cells(r measure.Result) []string {
	return []string{r.Policy,
		fmt.Sprintf("%.1f", r.CostInstanceHours), fmt.Sprintf("%.2f%%", 100*r.SLOViolationFraction),
		fmt.Sprintf("%.1f", r.ThetaU), fmt.Sprintf("%.1f", r.ThetaO), fmt.Sprintf("%.1f", r.TauU), fmt.Sprintf("%.1f", r.TauO),
		fmt.Sprintf("%.2f", r.Jitter), strconv.Itoa(r.Actions), fmt.Sprintf("%.0f", r.LostWork)}
}

// Table writes the results as a Markdown table, with the columns and
// figures of `ebb simulate`'s text output.
func Table(w io.Writer, results []measure.Result) {
	row := func(c ...string) { fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | ")) }
	row(columns...)
	align := make([]string, len(columns))
	for i := range align {
		align[i] = "---:"
	}
	align[0] = "---"
	row(align...)
	for _, r := range results {
		row(cells(r)...)
	}
}

func markdown(in Input) []byte {
	var b bytes.Buffer
	p := in.Params
	fmt.Fprintf(&b, "# Simulation: %s workload, %s\n\n", p.Workload, filepath.Base(p.Trace))
	row := func(c ...string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(c, " | ")) }
	row("parameter", "value")
	row("---", "---")
	for _, kv := range [][2]string{
		{"config", "`" + p.Config + "`"}, {"group", p.Group}, {"trace", "`" + p.Trace + "`"},
		{"scale", strconv.FormatFloat(p.Scale, 'g', -1, 64)}, {"compress", strconv.FormatFloat(p.Compress, 'g', -1, 64)},
		{"workload", p.Workload}, {"seed", strconv.FormatUint(p.Seed, 10)}, {"duration", p.Duration.String()},
		{"step", in.Demand.Step.String()},
	} {
		row(kv[0], kv[1])
	}
	if in.Summary != "" {
		fmt.Fprintf(&b, "\n%s\n", in.Summary)
	}
	b.WriteString("\n## Comparison\n\n")
	Table(&b, in.Results)
	var missing []string
	for _, r := range in.Results {
		if !hasSeries(in, r.Policy) {
			missing = append(missing, r.Policy)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\nNot plotted (no curves): %s.\n", strings.Join(missing, ", "))
	}
	for _, pl := range plots(in) {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n![%s](%s)\n", pl.title, pl.caption, pl.title, pl.file)
	}
	n := len(in.Demand.V)
	b.WriteString("\n## About the plots\n\n")
	if n > MaxPoints {
		fmt.Fprintf(&b, "The run has %d steps of %v; each line is downsampled to %d buckets of about %v. "+
			"Demand, ready and running instances and the arrival rate show each bucket's maximum, so a "+
			"one-step spike stays visible; the violation lanes show the fraction of each bucket's steps in "+
			"violation (dark) and the buckets with any violation (light).\n",
			n, in.Demand.Step, MaxPoints, (time.Duration(n) * in.Demand.Step / MaxPoints).Round(in.Demand.Step))
	} else {
		fmt.Fprintf(&b, "The run has %d steps of %v, plotted one point per step.\n", n, in.Demand.Step)
	}
	return b.Bytes()
}

func hasSeries(in Input, policy string) bool {
	for _, s := range in.Series {
		if s.Policy == policy {
			return true
		}
	}
	return false
}
