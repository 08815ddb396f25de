package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/provider/kubernetes"
	"github.com/ebb-autoscaler/ebb/internal/server"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// errLostLead is returned by ebb run when this replica led and lost the
// lead: it exits, so that whatever runs it starts it again as a follower
// with nothing of the old term in memory.
var errLostLead = errors.New("lost the lead (another ebb took over, or the lease could not be renewed in time): " +
	"exiting; restarted, this ebb follows the new leader")

// advertiseEnv overrides store.postgres.advertise.
const advertiseEnv = "EBB_ADVERTISE"

// serveReplica runs one replica of ebb on a PostgreSQL store: it serves
// the API at once, follows until it wins the lease, then leads until ctx
// ends (it hands the lease over) or it loses the lead (errLostLead).
func serveReplica(ctx context.Context, opt daemon.Options, cfg *config.File, reload <-chan struct{}) error {
	pg := cfg.Store.Postgres
	srv, ln, err := server.Listen(cfg.API)
	if err != nil {
		return err
	}
	addr := pg.Advertise
	if env := os.Getenv(advertiseEnv); env != "" {
		// Per replica, where the config file is shared (a Kubernetes
		// pod's IP from the downward API).
		u, err := url.Parse(env)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ln.Close()
			return fmt.Errorf("%s=%q: must be an http or https URL of this replica's API, such as http://10.0.0.5:7070", advertiseEnv, env)
		}
		addr = env
	}
	if addr == "" {
		addr = "http://" + ln.Addr().String()
	}
	log := opt.Log
	id := pg.ID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	var elector store.Elector
	if kl := pg.KubernetesLease; kl != nil {
		if elector, err = leaseElector(kl, id, pg); err != nil {
			ln.Close()
			return err
		}
	}
	st, err := store.OpenPostgres(ctx, store.PostgresOptions{
		DSN: pg.DSN.Reveal, ID: id, Addr: addr, Elector: elector,
		Lease: pg.Lease.D(), Timeout: pg.Timeout.D(), Log: log,
	}, daemon.StoreOptions(cfg.Store))
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close() // gives the lease up if it leads

	var api atomic.Pointer[http.Handler]
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*api.Load()).ServeHTTP(w, r) })
	var current atomic.Pointer[daemon.Daemon]
	go func() {
		for {
			select {
			case <-reload:
				if d := current.Load(); d != nil {
					d.Reload()
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	// Follow.
	fopt := opt
	fopt.Store, fopt.Follow = st, true
	f, err := daemon.New(fopt)
	if err != nil {
		return err
	}
	h := server.Handler(f)
	api.Store(&h)
	current.Store(f)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("ebb following", "api", ln.Addr().String(), "advertise", addr, "store", st.Path(), "config", opt.ConfigPath)
	fctx, stopFollowing := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); f.Follow(fctx) }()
	campaign := make(chan error, 1)
	go func() { campaign <- st.Campaign(ctx) }()
	select {
	case err = <-campaign:
	case err = <-served:
		err = fmt.Errorf("api: %w", err)
	}
	stopFollowing()
	<-followed
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	// Lead.
	l := st.Leader()
	log.Info("ebb leading", "epoch", l.Epoch, "advertise", addr)
	opt.Store = st
	d, err := daemon.New(opt)
	if err != nil {
		return err
	}
	d.SetAddress(ln.Addr().String())
	lh := server.Handler(d) // a new variable: the follower's is still being read
	api.Store(&lh)
	current.Store(d)
	if d.Token() == "" {
		log.Warn("no API token configured (api.token_file or EBB_TOKEN): mutations are refused with 403")
	}
	lctx, stopLeading := context.WithCancel(ctx)
	defer stopLeading()
	var lost atomic.Bool
	go func() {
		select {
		case <-st.Lost():
			lost.Store(true)
			log.Error("lost the lead; stopping every action", "epoch", l.Epoch)
			stopLeading()
		case err := <-served:
			log.Error("api stopped", "err", err)
			stopLeading()
		case <-lctx.Done():
		}
	}()
	err = d.Run(lctx, nil, nil)
	if lost.Load() {
		return errLostLead
	}
	return err
}

// kubeElector is a Kubernetes Lease as the store's Elector.
type kubeElector struct{ *kubernetes.LeaseElector }

func (e kubeElector) Elect(ctx context.Context) (store.Term, error) {
	t, err := e.LeaseElector.Elect(ctx)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// leaseElector makes the elector of store.postgres.kubernetes_lease,
// timed by store.postgres.lease as client-go times leader election: renew
// within two thirds of it, retry every fifth (at most 2s).
func leaseElector(kl *config.KubernetesLease, id string, pg *config.Postgres) (store.Elector, error) {
	lease := pg.Lease.D()
	le, err := kubernetes.NewLeaseElector(kubernetes.LeaseElectorConfig{
		Conn: &kubernetes.Config{
			Kubeconfig: kl.Kubeconfig, Context: kl.Context, Namespace: kl.Namespace,
			QPS: 5, Burst: 10, Timeout: pg.Timeout,
		},
		Election: kubernetes.Election{
			Lease: kl.Name, Identity: id,
			LeaseDuration: lease, RenewDeadline: lease * 2 / 3, RetryPeriod: min(lease/5, 2*time.Second),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("store.postgres.kubernetes_lease: %w", err)
	}
	return kubeElector{le}, nil
}
