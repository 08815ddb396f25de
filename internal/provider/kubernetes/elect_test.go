package kubernetes

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two replicas campaign for one Lease: one leads; when it stops, it
// releases the Lease and the other leads at once, not a lease duration
// later.
func TestElect(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, "apps", "deployments", "x")
	timing := Election{Lease: "ebb", LeaseDuration: 10 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: 200 * time.Millisecond}
	leading := make(chan string, 2)
	campaign := func(ctx context.Context, id string) chan error {
		out := make(chan error, 1)
		el := timing
		el.Identity = id
		go func() {
			out <- Elect(ctx, c, el, func(ctx context.Context) {
				leading <- id
				<-ctx.Done()
			})
		}()
		return out
	}
	ctxA, stopA := context.WithCancel(t.Context())
	defer stopA()
	doneA := campaign(ctxA, "a")
	if id := <-leading; id != "a" {
		t.Fatalf("%s leads first, want a", id)
	}
	ctxB, stopB := context.WithCancel(t.Context())
	defer stopB()
	doneB := campaign(ctxB, "b")
	select {
	case id := <-leading:
		t.Fatalf("%s leads while a does", id)
	case <-time.After(time.Second): // five retry periods
	}
	lease, err := e.core.CoordinationV1().Leases(e.ns).Get(t.Context(), "ebb", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "a" {
		t.Fatalf("lease %+v (%v); want held by a", lease, err)
	}
	start := time.Now()
	stopA()
	if err := <-doneA; err != nil {
		t.Errorf("elect a, stopped: %v", err)
	}
	select {
	case id := <-leading:
		if id != "b" {
			t.Fatalf("%s leads after a, want b", id)
		}
	case <-time.After(timing.LeaseDuration):
		t.Fatal("b does not lead within a lease duration of a stopping")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("b led %s after a stopped; a released the lease, so want about a retry period", d)
	}
	stopB()
	if err := <-doneB; err != nil {
		t.Errorf("elect b, stopped: %v", err)
	}
	if err := Elect(t.Context(), c, Election{Lease: "ebb"}, func(context.Context) {}); err == nil || errors.Is(err, ErrLeadershipLost) {
		t.Errorf("elect without an identity: %v; want a setup error", err)
	}
}
