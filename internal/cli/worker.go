package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/internal/demo/worker"
)

func workerCmd() *cobra.Command {
	var cfg worker.Config
	cmd := &cobra.Command{
		Use:    "worker --queue URL --id ID --listen HOST:PORT",
		Short:  "Work jobs from the demo's queue (ebb demo starts these)",
		Hidden: true,
		Long: `Take jobs from the demo queue and work each for its service time.
Serves /healthz, /metrics (ebb_worker_busy, ebb_worker_in_flight,
ebb_worker_jobs_done_total) and /v1/busy on --listen. On SIGUSR1 or SIGTERM
it stops taking jobs, finishes the one in hand, reports it and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			drain, stop := worker.DrainOnSignals()
			defer stop()
			cfg.Drain = drain
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			err := worker.Run(context.Background(), cfg)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Queue, "queue", "", "the queue's base URL")
	cmd.Flags().StringVar(&cfg.ID, "id", "", "this worker's ID")
	cmd.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address for /healthz, /metrics and /v1/busy")
	cmd.Flags().Float64Var(&cfg.Speed, "speed", 1, "service times are divided by this")
	return cmd
}
