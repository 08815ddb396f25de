package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/sim"
)

// defaultStart is t = 0 of a replay unless --start says otherwise: a Monday,
// so weekday schedules read naturally.
const defaultStart = "2026-01-05T00:00:00Z"

func simulateCmd() *cobra.Command {
	var (
		path, signals, start string
		fromProm, end        string
		step                 time.Duration
		asJSON, explain      bool
		tracePath, kind      string
		group, compare       string
		scale, compress      float64
		seed                 uint64
		reportDir, suiteFile string
	)
	cmd := &cobra.Command{
		Use:   "simulate (-c FILE (--signals FILE.csv | --from-prometheus URL --start T --end T [--step D] | --trace FILE.csv --workload KIND|FILE [--compare oracle,...]) [--json] | --suite FILE --report PAGE.md)",
		Short: "Replay recorded signals through the engine on a virtual clock",
		Long: `Replay a CSV of signal values through the same engine the daemon runs.

The CSV has a column t (seconds) and one column per signal: "cpu" when the
config has one group, "group/cpu" otherwise. A row's values hold until the next
row; an empty cell means no value (it goes stale after the signal's stale time).
Instances become ready lifecycle.launch.boot after they are launched.

With --from-prometheus, the signals the config reads through prometheus
sources are range-queried from that Prometheus (with each source's
credentials) between --start and --end, one value per --step, and replayed
the same way: what this policy would have done over that time.

With --trace, a CSV t,rate of arrivals drives a workload model (service,
queue, streaming or olap) closed loop: ebb's engine decides from what the
model reports, the daemon's own fleet reconciler launches and drains on a
simulated system (boot time lifecycle.launch.boot), and what runs changes
what the model sees next. It prints cost, time in SLO violation, the SPEC
elasticity metrics and lost work, beside the baselines named by --compare
(oracle: the cheapest fleet meeting demand with perfect foresight).

With --suite, every case of a suite file (each what one --trace run
would be) runs, and --report PAGE.md gathers their tables and plots.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if suiteFile != "" {
				for _, f := range []string{"config", "signals", "from-prometheus", "trace", "workload", "group", "compare", "scale", "compress", "step", "seed", "json", "explain", "end"} {
					if cmd.Flags().Changed(f) {
						return usageError{fmt.Errorf("--suite runs the cases its file names: --%s goes in the file, not on the command line", f)}
					}
				}
				if reportDir == "" {
					return usageError{errors.New("--suite needs --report PAGE.md: the page to write")}
				}
				t0, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usageError{fmt.Errorf("--start must be an RFC 3339 time such as %s: %w", defaultStart, err)}
				}
				err = simulateSuite(suiteRun{file: suiteFile, page: reportDir, start: t0, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()})
				var ue usageError
				if err == nil || errors.As(err, &ue) {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			if tracePath != "" {
				if signals != "" || fromProm != "" {
					return usageError{errTraceAndSignals}
				}
				if kind == "" {
					return usageError{errors.New("--trace needs --workload: service, queue, streaming, olap, or a workload file")}
				}
				t0, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usageError{fmt.Errorf("--start must be an RFC 3339 time such as %s: %w", defaultStart, err)}
				}
				f, _, err := load(path)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					return exitError{code: 1}
				}
				var cmp []string
				if compare != "" {
					cmp = strings.Split(compare, ",")
				}
				var res time.Duration // the simulation's resolution: 1s unless --step
				if cmd.Flags().Changed("step") {
					if step <= 0 {
						return usageError{fmt.Errorf("--step must be > 0, not %s", step)}
					}
					res = step
				}
				err = simulateTrace(cmd.OutOrStdout(), traceRun{cfg: f, group: group, trace: tracePath, workload: kind,
					scale: scale, compress: compress, step: res, compare: cmp, seed: seed, start: t0, asJSON: asJSON,
					configPath: path, reportDir: reportDir, stderr: cmd.ErrOrStderr()})
				var ue usageError
				if err == nil || errors.As(err, &ue) {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			switch {
			case signals == "" && fromProm == "":
				return usageError{errors.New("no input: pass --signals FILE.csv or --from-prometheus URL")}
			case signals != "" && fromProm != "":
				return usageError{errors.New("--signals and --from-prometheus replay different inputs: pass one")}
			case fromProm != "" && (!cmd.Flags().Changed("start") || end == ""):
				return usageError{errors.New("--from-prometheus needs the time range: --start and --end (RFC 3339, e.g. 2026-11-22T00:00:00Z)")}
			case fromProm == "" && (end != "" || cmd.Flags().Changed("step")):
				return usageError{errors.New("--end and --step go with --from-prometheus")}
			case step <= 0:
				return usageError{fmt.Errorf("--step must be > 0, not %s", step)}
			}
			t0, err := time.Parse(time.RFC3339, start)
			if err != nil {
				return usageError{fmt.Errorf("--start must be an RFC 3339 time such as %s: %w", defaultStart, err)}
			}
			f, eng, err := load(path)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			var in io.Reader
			name := signals
			if fromProm != "" {
				t1, err := time.Parse(time.RFC3339, end)
				if err != nil {
					return usageError{fmt.Errorf("--end must be an RFC 3339 time such as 2026-11-29T00:00:00Z: %w", err)}
				}
				if !t1.After(t0) {
					return usageError{fmt.Errorf("--end %s is not after --start %s", end, start)}
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
				defer cancel()
				csv, err := promHistory(ctx, f, fromProm, t0, t1, step)
				if err != nil {
					return err
				}
				in, name = bytes.NewReader(csv), fromProm
			} else {
				fh, err := os.Open(signals)
				if err != nil {
					return err
				}
				defer fh.Close()
				in = fh
			}
			table, err := sim.ReadSignals(name, in, eng.Groups)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			out := cmd.OutOrStdout()
			opt := sim.Options{Start: t0}
			if explain {
				opt.OnDecision = func(d *model.Decision) {
					if d.Direction != model.Hold {
						d.WriteText(out)
					}
				}
			}
			res := sim.ReplaySignals(eng, table, opt)
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return writeReplay(out, res)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file")
	cmd.Flags().StringVar(&signals, "signals", "", "CSV of signal values: t, then one column per signal")
	cmd.Flags().StringVar(&start, "start", defaultStart, "virtual time of t=0 (RFC 3339); schedules read it; with --from-prometheus, the range's start")
	cmd.Flags().StringVar(&fromProm, "from-prometheus", "", "replay the config's prometheus signals from this Prometheus (URL) between --start and --end")
	cmd.Flags().StringVar(&end, "end", "", "with --from-prometheus: the range's end (RFC 3339)")
	cmd.Flags().DurationVar(&step, "step", time.Minute, "with --from-prometheus: one value per step; with --trace: the simulation's resolution (default there 1s)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"summary": …, "timeline": […]} as JSON`)
	cmd.Flags().BoolVar(&explain, "explain", false, "print every scaling decision in full as it happens")
	cmd.Flags().StringVar(&tracePath, "trace", "", "CSV t,rate of arrivals per second: drive --workload closed loop")
	cmd.Flags().StringVar(&kind, "workload", "", "with --trace: the workload model at its defaults (service, queue, streaming or olap), or a file of the model's settings and the simulated system's")
	cmd.Flags().StringVar(&group, "group", "", "with --trace: the group to simulate, when the config has several")
	cmd.Flags().StringVar(&compare, "compare", "", "with --trace: baselines to run beside the config's policy, comma-separated: "+strings.Join(baselines, ", "))
	cmd.Flags().Float64Var(&scale, "scale", 1, "with --trace: multiply the trace's rates")
	cmd.Flags().Float64Var(&compress, "compress", 1, "with --trace: play the trace this many times faster")
	cmd.Flags().StringVar(&reportDir, "report", "", "with --trace: also write DIR/report.md and its PNG plots; with --suite: the page PAGE.md to write, its plots in the directory PAGE")
	cmd.Flags().StringVar(&suiteFile, "suite", "", "run every case of a suite file (closed-loop comparisons) and write the page --report names")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "with --trace: seeds the workload and the simulated system")
	return cmd
}

// writeReplay prints the timeline as a table, then a summary per group.
func writeReplay(w io.Writer, res sim.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tgroup\tdesired\tready\t")
	for _, r := range res.Timeline {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t  %s\n", model.FormatNum(r.T), r.Group, r.Desired, r.Ready, r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := res.Summary
	fmt.Fprintf(w, "\n%d ticks over %s from %s\n", s.Ticks,
		model.FormatDuration(time.Duration(s.Seconds*float64(time.Second))), s.Start.Format(time.RFC3339))
	names := make([]string, 0, len(s.Groups))
	for n := range s.Groups {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		g := s.Groups[n]
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d scale-outs, %d scale-ins, desired %d–%d, %.1f instance-hours (%.1f ready)",
			n, g.ScaleOuts, g.ScaleIns, g.MinDesired, g.MaxDesired, g.InstanceSeconds/3600, g.ReadySeconds/3600)
		if g.MissingTicks > 0 {
			fmt.Fprintf(&b, ", %d ticks with missing signals", g.MissingTicks)
		}
		fmt.Fprintln(w, b.String())
	}
	return nil
}
