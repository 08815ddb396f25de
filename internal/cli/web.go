package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/demo/web"
)

func webCmd() *cobra.Command {
	cfg := web.Config{
		Registry: os.Getenv(daemon.EnvRegistryURL), App: os.Getenv(daemon.EnvRegistryApp), ID: os.Getenv(daemon.EnvInstanceID),
	}
	cmd := &cobra.Command{
		Use:    "web --listen HOST:PORT",
		Short:  "Serve as an instance of the registry demo's web service (ebb demo registry starts these)",
		Hidden: true,
		Long: `Serve GET /work (each request takes --service) and /healthz on --listen,
registered in ebb's registry: the URL, app and instance ID come from
EBB_REGISTRY_URL, EBB_REGISTRY_APP and EBB_INSTANCE_ID, which ebb sets for
groups with lifecycle.registry, or from the flags. On SIGTERM it finishes
the requests it holds, cancels its registration and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stop := make(chan struct{})
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
			defer signal.Stop(sigs)
			go func() { <-sigs; close(stop) }()
			cfg.Stop = stop
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			err := web.Run(context.Background(), cfg)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address to serve on")
	cmd.Flags().StringVar(&cfg.Registry, "registry", cfg.Registry, "the registry's base URL (default $"+daemon.EnvRegistryURL+")")
	cmd.Flags().StringVar(&cfg.App, "app", cfg.App, "the app to register under (default $"+daemon.EnvRegistryApp+")")
	cmd.Flags().StringVar(&cfg.ID, "id", cfg.ID, "the instance ID to register with (default $"+daemon.EnvInstanceID+")")
	cmd.Flags().DurationVar(&cfg.Service, "service", 20*time.Millisecond, "how long each request takes")
	cmd.Flags().DurationVar(&cfg.Renew, "renew", 30*time.Second, "lease renewal interval")
	cmd.Flags().DurationVar(&cfg.Lease, "lease", 0, "lease duration to ask for (0: the registry's)")
	return cmd
}
