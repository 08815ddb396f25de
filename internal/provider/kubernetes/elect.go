package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/flowcontrol"
)

// Election is how one replica of ebb campaigns for a coordination.k8s.io
// Lease, so that of several replicas (for availability) one acts.
type Election struct {
	// Lease is the Lease's name, in the config's namespace; it is created
	// when missing.
	Lease string
	// Identity names this replica, uniquely among them (its Pod's name).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// leader-election timings; zero takes 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// ErrLeadershipLost is returned by Elect when the replica led and could not
// renew the Lease in time: another replica may lead now.
var ErrLeadershipLost = errors.New("leadership lost")

// Elect campaigns for the Lease with cfg's connection (kubeconfig, context,
// namespace, qps, burst) and runs lead while this replica holds it; lead's
// context ends as soon as the lease is lost or ctx ends, and Elect waits
// for lead to return. It returns nil once ctx ends (releasing a held
// Lease, so another replica takes over at once), ErrLeadershipLost when
// the Lease could not be renewed, or an error when it cannot campaign. It
// uses client-go's leaderelection, with its own clock.
func Elect(ctx context.Context, cfg *Config, e Election, lead func(ctx context.Context)) error {
	if e.Lease == "" || e.Identity == "" {
		return errors.New("elect: a lease name and an identity are required")
	}
	e.LeaseDuration = cmp.Or(e.LeaseDuration, 15*time.Second)
	e.RenewDeadline = cmp.Or(e.RenewDeadline, 10*time.Second)
	e.RetryPeriod = cmp.Or(e.RetryPeriod, 2*time.Second)
	rc, err := restConfig(cfg)
	if err != nil {
		return fmt.Errorf("elect: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = float32(cfg.QPS), cfg.Burst
	rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(cfg.QPS), cfg.Burst)
	// A hung request must not outlast the renew deadline.
	rc.Timeout = min(cfg.Timeout.D(), max(e.RenewDeadline/2, time.Second))
	rc.UserAgent = "ebb-leader-election"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("elect: make the client: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: e.Lease},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	started, done := make(chan struct{}), make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            e.Lease,
		LeaseDuration:   e.LeaseDuration,
		RenewDeadline:   e.RenewDeadline,
		RetryPeriod:     e.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				close(started)
				defer close(done)
				lead(ctx)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("elect lease %s/%s: %w", cfg.Namespace, e.Lease, err)
	}
	le.Run(ctx)
	select {
	case <-started:
		<-done // Run cancelled lead's context: wait for lead to see it
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("lease %s/%s as %s: %w", cfg.Namespace, e.Lease, e.Identity, ErrLeadershipLost)
}
