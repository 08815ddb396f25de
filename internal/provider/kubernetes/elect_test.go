package kubernetes

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two replicas campaign for one Lease: one leads; when it resigns, it
// releases the Lease and the other leads at once, not a lease duration
// later. A term is valid while it leads, and not after.
func TestLeaseElector(t *testing.T) {
	e := newEnv(t)
	c := e.config(t, "apps", "deployments", "x")
	timing := Election{Lease: "ebb", LeaseDuration: 10 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: 200 * time.Millisecond}
	elector := func(id string) *LeaseElector {
		el := timing
		el.Identity = id
		le, err := NewLeaseElector(LeaseElectorConfig{Conn: c, Election: el})
		if err != nil {
			t.Fatal(err)
		}
		return le
	}
	a, b := elector("a"), elector("b")
	ta, err := a.Elect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !ta.Valid() {
		t.Error("a's term is not valid as it starts")
	}
	won := make(chan *LeaseTerm, 1)
	go func() {
		tb, err := b.Elect(t.Context())
		if err != nil {
			t.Error(err)
		}
		won <- tb
	}()
	select {
	case <-won:
		t.Fatal("b leads while a does")
	case <-time.After(time.Second): // five retry periods
	}
	lease, err := e.core.CoordinationV1().Leases(e.ns).Get(t.Context(), "ebb", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "a" {
		t.Fatalf("lease %+v (%v); want held by a", lease, err)
	}
	start := time.Now()
	ta.Resign()
	select {
	case <-ta.Lost():
	default:
		t.Error("a's term is not lost after it resigned")
	}
	if ta.Valid() {
		t.Error("a's term is valid after it resigned")
	}
	var tb *LeaseTerm
	select {
	case tb = <-won:
	case <-time.After(timing.LeaseDuration):
		t.Fatal("b does not lead within a lease duration of a resigning")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("b led %s after a resigned; a released the lease, so want about a retry period", d)
	}
	tb.Resign()

	if _, err := NewLeaseElector(LeaseElectorConfig{Conn: c, Election: Election{Lease: "ebb"}}); err == nil {
		t.Error("an elector without an identity: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := elector("c").Elect(ctx); err == nil {
		t.Error("Elect with an ended context: no error")
	}
}
