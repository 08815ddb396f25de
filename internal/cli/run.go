package cli

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/server"
)

func runCmd() *cobra.Command {
	var path, level string
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run the autoscaler: decide, launch, drain, serve the API",
		Long: `Run ebb as a daemon. It evaluates every group on its interval, keeps each
group's instances at the decided capacity, and serves the API (api.listen).

SIGHUP, or a change of the file, reloads the config; an invalid file is
logged and the running config kept. SIGTERM or SIGINT stops deciding and
exits, leaving instances running: the next ebb run adopts them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageErrorf("no config: pass -c FILE")
			}
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return usageErrorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
			ctx, stop := stopOnSignal(cmd.Context(), log)
			defer stop()
			if err := serve(ctx, daemon.Options{ConfigPath: path, Log: log}, nil); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// serve runs a daemon with its API until ctx is done. started, if not nil,
// is called with the daemon and the API's address once it listens.
func serve(ctx context.Context, opt daemon.Options, started func(*daemon.Daemon, string)) error {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Sources == nil {
		opt.Sources = sourceKinds()
	}
	if opt.Providers == nil {
		opt.Providers = providerKinds()
	}
	// client-go logs through klog, to stderr unless told otherwise: its
	// lines go to ebb's log instead.
	klog.SetSlogLogger(opt.Log.With("component", "client-go"))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	if opt.Store == nil {
		cfg, err := kindsOf(opt.Sources, opt.Providers).Load(opt.ConfigPath)
		if err != nil {
			return err
		}
		if cfg.Store.Postgres != nil {
			return serveReplica(ctx, opt, cfg, reload)
		}
	}
	d, err := daemon.New(opt)
	if err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-reload:
				d.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	srv, ln, err := server.Listen(d.API())
	if err != nil {
		return err
	}
	d.SetAddress(ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if d.Token() == "" {
		opt.Log.Warn("no API token configured (api.token_file or EBB_TOKEN): mutations are refused with 403")
	}
	opt.Log.Info("ebb running", "api", ln.Addr().String(), "config", opt.ConfigPath)
	if started != nil {
		started(d, ln.Addr().String())
	}
	return d.Run(ctx, server.Handler(d), func(h http.Handler) error {
		srv.Handler = h
		return srv.Serve(ln)
	})
}

// stopOnSignal returns a context cancelled, and logged, when SIGTERM or
// SIGINT arrives; stop releases the signals.
func stopOnSignal(parent context.Context, log *slog.Logger) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-sigs:
			name := "SIGTERM"
			if s == syscall.SIGINT {
				name = "SIGINT"
			}
			log.Info("stopping on " + name + "; instances keep running")
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}
