// Package demo_test runs the demo's three pieces together in real time:
// a queue on loopback, a few workers, and the load generator. No
// autoscaling: the fleet is fixed, then drained.
package demo_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/load"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
	"github.com/ebb-autoscaler/ebb/internal/demo/worker"
)

func TestPiecesWorkTogether(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	q := queue.New()
	srv := httptest.NewServer(q.Handler())
	defer srv.Close()

	// Two seconds of trace at up to 30 jobs/s of ~20ms each (/2 at speed 2).
	plan := load.Plan{Duration: 2 * time.Second, PeakJobsPerSec: 30, ServiceMean: 20 * time.Millisecond, Seed: 1}
	t.Logf("seed %d", plan.Seed)
	n := load.FixedFleet(plan, 0.9)

	type stopped struct {
		id  string
		err error
	}
	done := make(chan stopped, n)
	drains := make([]chan struct{}, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		drains[i] = make(chan struct{})
		cfg := worker.Config{Queue: srv.URL, ID: fmt.Sprintf("w%d", i), Listener: ln, Speed: 2, Drain: drains[i], Poll: 100 * time.Millisecond}
		go func() { done <- stopped{cfg.ID, worker.Run(ctx, cfg)} }()
	}

	r, err := load.Run(ctx, plan, load.Submitter(srv.URL, srv.Client()), clock.Real{})
	if err != nil {
		t.Fatalf("load: %v (%+v)", err, r)
	}
	for _, d := range drains {
		close(d)
	}
	for range n {
		select {
		case s := <-done:
			if s.err != nil {
				t.Errorf("worker %s: %v", s.id, s.err)
			}
		case <-ctx.Done():
			t.Fatalf("workers did not drain: %v", ctx.Err())
		}
	}
	// Drained workers finish what they hold but take nothing new; jobs
	// still queued stay queued, none are lost.
	st := q.Stats()
	t.Logf("%d workers, %+v, report %+v", n, st, r)
	if st.Submitted != int64(r.Jobs) || st.InFlight != 0 || int64(st.Queued)+st.Completed != st.Submitted {
		t.Errorf("queue after the drain: %+v, want all %d jobs queued or done", st, r.Jobs)
	}
	if st.Completed == 0 {
		t.Error("no job was completed")
	}
}
