package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/demo"
)

// demoEnv is added to the worker processes' environment; tests set it so
// their own binary acts as ebb.
var demoEnv map[string]string

func demoCmd() *cobra.Command {
	var (
		duration time.Duration
		speed    float64
		seed     int64
		asJSON   bool
		keep     bool
	)
	cmd := &cobra.Command{
		Use:   "demo [--duration 3m] [--speed 1] [--seed N] [--json]",
		Short: "Watch ebb scale real worker processes under a real traffic trace",
		Long: `Run the whole system on this machine with nothing installed: a job queue, a
load generator replaying the 1998 World Cup web site's biggest flash crowd
compressed into --duration, worker processes (this binary in worker mode)
that ebb launches, health-checks and drains, a live view, and a summary.

Every job is accounted for: scale-in asks a worker to finish its job
(SIGUSR1) and waits while it is busy. Ctrl-C stops the demo and every
process it started, the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case duration < time.Second:
				return fmt.Errorf("--duration %s is shorter than 1s", duration)
			case speed <= 0:
				return fmt.Errorf("--speed must be > 0, not %v", speed)
			}
			if !cmd.Flags().Changed("seed") {
				seed = time.Now().UnixNano() % 1_000_000
			}
			var sum demo.Summary
			err := runDemo(cmd, seed, asJSON, keep, func(ctx context.Context, opt demo.Options) (any, func(io.Writer), error) {
				opt.Duration, opt.Speed, opt.Seed = duration, speed, seed
				var err error
				sum, err = demo.Run(ctx, opt)
				return sum, func(w io.Writer) { writeSummary(w, sum) }, err
			})
			if err != nil {
				return err
			}
			if sum.JobsLost > 0 {
				return failed(fmt.Errorf("%d jobs lost", sum.JobsLost))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 3*time.Minute, "wall time the trace is compressed into")
	cmd.Flags().Float64Var(&speed, "speed", 1, "workers work this many times faster (service times are divided by it)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of the load (default: random, printed)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object (the live view goes to stderr)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the state and logs directory")
	cmd.AddCommand(demoRegistryCmd())
	return cmd
}

// runDemo runs one demo scenario: it finds this binary (the instances
// run it), makes the state and logs directory, runs ebb in this process,
// stops on SIGINT or SIGTERM, and prints the summary (as JSON with
// asJSON, the live view then going to stderr).
func runDemo(cmd *cobra.Command, seed int64, asJSON, keep bool,
	run func(context.Context, demo.Options) (summary any, write func(io.Writer), err error)) error {
	exe, err := os.Executable()
	if err != nil {
		return failed(fmt.Errorf("find the ebb binary for the instances: %w", err))
	}
	dir, err := os.MkdirTemp("", "ebb-demo-")
	if err != nil {
		return failed(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "ebb.log"))
	if err != nil {
		return failed(err)
	}
	defer logFile.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	live := isTerminal(out) && !asJSON
	if asJSON {
		out = cmd.ErrOrStderr()
	}
	fmt.Fprintf(out, "seed %d; state and logs in %s\n", seed, dir)
	sum, write, err := run(ctx, demo.Options{
		Executable: exe, Env: demoEnv, Dir: dir, Out: out, Live: live,
		Start: func(ctx context.Context, path, token string) (string, func(), error) {
			return startEbb(ctx, daemon.Options{
				ConfigPath: path, Token: token,
				Log:  slog.New(slog.NewTextHandler(logFile, nil)),
				Seed: uint64(seed) + 1,
			})
		},
	})
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "ebb demo: %v (state and logs kept in %s)\n", err, dir)
		keep = true
	}
	if asJSON {
		if perr := printJSON(cmd.OutOrStdout(), sum); perr != nil {
			return perr
		}
	} else {
		write(cmd.OutOrStdout())
	}
	if !keep {
		os.RemoveAll(dir)
	}
	if err != nil {
		return exitError{code: exitRefused} // reported above, with the directory
	}
	return nil
}

func demoRegistryCmd() *cobra.Command {
	var (
		duration     time.Duration
		asJSON, keep bool
	)
	cmd := &cobra.Command{
		Use:   "registry [--duration 1m] [--json]",
		Short: "Watch ebb scale a web service behind its registry without failing a request",
		Long: `Run a web service whose instances (this binary in web mode) register in
ebb's service registry, and a client that balances requests over them from
its cached copy of the registry, refreshed every second, as Eureka clients
do. The load rises and falls over --duration, then stays low while ebb
scales in: each instance scaled in is taken OUT_OF_SERVICE first, and
stopped (SIGTERM: it finishes its requests and cancels its registration)
only after the clients have refreshed. The summary counts every request:
none fails, and no try reaches an instance that is gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration < 10*time.Second {
				return usageError{fmt.Errorf("--duration %s is shorter than 10s", duration)}
			}
			var sum demo.RegistrySummary
			seed := time.Now().UnixNano() % 1_000_000 // instance IDs
			err := runDemo(cmd, seed, asJSON, keep, func(ctx context.Context, opt demo.Options) (any, func(io.Writer), error) {
				opt.Duration = duration
				var err error
				sum, err = demo.RunRegistry(ctx, opt)
				return sum, func(w io.Writer) { demo.WriteRegistrySummary(w, sum) }, err
			})
			if err != nil {
				return err
			}
			if sum.Failed > 0 {
				return failed(fmt.Errorf("%d requests failed", sum.Failed))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", time.Minute, "how long the load rises and falls (a cool-down of at least 40s follows)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object (the live view goes to stderr)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the state and logs directory")
	return cmd
}

// startEbb runs ebb in this process until ctx ends or stop is called.
func startEbb(ctx context.Context, opt daemon.Options) (string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, opt, func(_ *daemon.Daemon, a string) { addr <- a })
	}()
	select {
	case a := <-addr:
		return a, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return "", nil, err
	}
}

func writeSummary(w io.Writer, s demo.Summary) {
	pct := 0.0
	if s.FixedFleetInstanceSeconds > 0 {
		pct = 100 * s.InstanceSeconds / s.FixedFleetInstanceSeconds
	}
	fmt.Fprintf(w, `
summary (seed %d, %.0f s)
  jobs        %d submitted, %d completed, %d lost, %d left in the queue
  queue wait  p50 %.0f ms, p99 %.0f ms
  instances   peak %d, lowest after the peak %d; %d launched, %d drained
  cost        %.0f instance-seconds, %.0f%% of a fixed fleet of %d (%.0f instance-seconds)
`, s.Seed, s.Seconds, s.JobsSubmitted, s.JobsCompleted, s.JobsLost, s.JobsPending,
		s.WaitP50MS, s.WaitP99MS, s.PeakInstances, s.MinInstancesAfterPeak, s.Launched, s.Drained,
		s.InstanceSeconds, pct, s.FixedFleet, s.FixedFleetInstanceSeconds)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
