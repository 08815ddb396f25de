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

// LeaseElector campaigns for a coordination.k8s.io Lease with client-go's
// leaderelection. It is the elector of ebb replicas on a PostgreSQL store
// that elect by Lease (store.postgres.kubernetes_lease): the store fences
// their writes, the Lease says who leads.
type LeaseElector struct {
	cfg  LeaseElectorConfig
	lock *resourcelock.LeaseLock
}

// LeaseElectorConfig is where the Lease is and how it is timed.
type LeaseElectorConfig struct {
	// Conn is the connection: kubeconfig, context, namespace, qps, burst
	// and timeout (resource and the rest are not used).
	Conn *Config
	Election
}

// NewLeaseElector checks the election and makes its client.
func NewLeaseElector(c LeaseElectorConfig) (*LeaseElector, error) {
	e := c.Election
	if e.Lease == "" || e.Identity == "" {
		return nil, errors.New("elect: a lease name and an identity are required")
	}
	e.LeaseDuration = cmp.Or(e.LeaseDuration, 15*time.Second)
	e.RenewDeadline = cmp.Or(e.RenewDeadline, 10*time.Second)
	e.RetryPeriod = cmp.Or(e.RetryPeriod, 2*time.Second)
	c.Election = e
	rc, err := restConfig(c.Conn)
	if err != nil {
		return nil, fmt.Errorf("elect: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = float32(c.Conn.QPS), c.Conn.Burst
	rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(c.Conn.QPS), c.Conn.Burst)
	// A hung request must not outlast the renew deadline.
	rc.Timeout = min(c.Conn.Timeout.D(), max(e.RenewDeadline/2, time.Second))
	rc.UserAgent = "ebb-leader-election"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("elect: make the client: %w", err)
	}
	return &LeaseElector{cfg: c, lock: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: c.Conn.Namespace, Name: e.Lease},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}}, nil
}

// LeaseTerm is one term of this replica as the Lease's holder.
type LeaseTerm struct {
	le     *leaderelection.LeaderElector
	lead   context.Context // ends when the Lease is lost or given up
	cancel context.CancelFunc
	done   chan struct{} // closed when the elector has stopped (and released the Lease)
}

// Elect campaigns until this replica holds the Lease, or ctx ends; the
// term then lasts until the Lease cannot be renewed within the renew
// deadline, or Resign.
func (e *LeaseElector) Elect(ctx context.Context) (*LeaseTerm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	won := make(chan context.Context, 1)
	el := e.cfg.Election
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            e.lock,
		Name:            el.Lease,
		LeaseDuration:   el.LeaseDuration,
		RenewDeadline:   el.RenewDeadline,
		RetryPeriod:     el.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lead context.Context) {
				won <- lead
				<-lead.Done()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("elect lease %s/%s: %w", e.cfg.Conn.Namespace, el.Lease, err)
	}
	t := &LeaseTerm{le: le, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		le.Run(run)
	}()
	select {
	case t.lead = <-won:
		return t, nil
	case <-ctx.Done():
		cancel()
		<-t.done
		return nil, ctx.Err()
	}
}

// Lost is closed once the Lease is lost or given up.
func (t *LeaseTerm) Lost() <-chan struct{} { return t.lead.Done() }

// Valid reports, from what this replica last observed and without a call,
// whether it still holds the Lease: false once its last renewal is older
// than the lease duration (a process paused past it).
func (t *LeaseTerm) Valid() bool {
	return t.lead.Err() == nil && t.le.IsLeader() && t.le.Check(0) == nil
}

// Resign releases the Lease, so another replica takes it at once, and
// waits until it is released.
func (t *LeaseTerm) Resign() {
	t.cancel()
	<-t.done
}
