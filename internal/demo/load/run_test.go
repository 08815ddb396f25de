package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// In a synctest bubble the real clock is virtual: Run's waits take no time
// and every job must go out exactly at its offset.
func TestRunSubmitsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Plan{Duration: 20 * time.Second, Seed: 8}
		clk := clock.Real{}
		start := clk.Now()
		var at []time.Duration
		submit := func(ctx context.Context, j Job) error {
			at = append(at, clk.Now().Sub(start))
			return nil
		}
		r, err := Run(t.Context(), p, submit, clk)
		if err != nil {
			t.Fatal(err)
		}
		jobs := Schedule(p)
		want := make([]time.Duration, len(jobs))
		for i, j := range jobs {
			want[i] = j.Offset
		}
		if diff := cmp.Diff(want, at); diff != "" {
			t.Errorf("submit times (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(Report{Jobs: len(jobs), Submitted: len(jobs)}, r); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		if elapsed := clk.Now().Sub(start); elapsed > p.Duration {
			t.Errorf("Run took %s, longer than the plan's %s", elapsed, p.Duration)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Plan{Duration: time.Minute, Seed: 9}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		r, err := Run(ctx, p, func(context.Context, Job) error { return nil }, clock.Real{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		due := 0
		for _, j := range Schedule(p) {
			if j.Offset < 30*time.Second {
				due++
			}
		}
		if r.Submitted != due {
			t.Errorf("submitted %d jobs, want the %d due in the first 30s", r.Submitted, due)
		}
	})
}

func TestRunBoundsEachSubmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Plan{Duration: 10 * time.Second, PeakJobsPerSec: 1, Seed: 4}
		hang := func(ctx context.Context, j Job) error {
			<-ctx.Done()
			return ctx.Err()
		}
		r, err := Run(t.Context(), p, hang, clock.Real{})
		if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
			t.Fatalf("got %v, want the submits' timeouts reported", err)
		}
		if r.Jobs == 0 || r.Failed != r.Jobs || r.Submitted != 0 {
			t.Errorf("report %+v: want every job failed", r)
		}
		if r.MaxLag < SubmitTimeout {
			t.Errorf("max lag %s: want the hung submits to show", r.MaxLag)
		}
	})
}

func TestRunCountsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Plan{Duration: 5 * time.Second, Seed: 2}
		n := 0
		submit := func(context.Context, Job) error {
			n++
			if n%10 == 0 {
				return errors.New("queue full")
			}
			return nil
		}
		r, err := Run(t.Context(), p, submit, clock.Real{})
		if r.Failed != r.Jobs/10 || r.Submitted != r.Jobs-r.Failed {
			t.Errorf("report %+v: want every tenth job failed", r)
		}
		if err == nil || !strings.Contains(err.Error(), "jobs failed, the first: submit job 9 at ") || !strings.HasSuffix(err.Error(), "queue full") {
			t.Errorf("got %v, want a count and the first failure", err)
		}
	})
}

func TestRunRejectsInvalidPlan(t *testing.T) {
	_, err := Run(t.Context(), Plan{ServiceMean: -1}, nil, clock.Real{})
	if err == nil || !strings.Contains(err.Error(), "check load plan: service_mean") {
		t.Errorf("got %v, want a plan error", err)
	}
}

func TestSubmitterPostsToQueue(t *testing.T) {
	q := queue.New()
	srv := httptest.NewServer(q.Handler())
	t.Cleanup(srv.Close)
	submit := Submitter(srv.URL+"/", srv.Client())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	for _, ms := range []int{1, 250, 2000} {
		if err := submit(ctx, Job{Service: time.Duration(ms) * time.Millisecond}); err != nil {
			t.Fatalf("submit %dms: %v", ms, err)
		}
	}
	if st := q.Stats(); st.Submitted != 3 || st.Queued != 3 {
		t.Errorf("queue stats: %+v, want 3 queued", st)
	}
	err := submit(ctx, Job{Service: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "queue answered 400 Bad Request: service_ms: 3600000 is not between") {
		t.Errorf("got %v, want the queue's 400", err)
	}
	down := Submitter("http://127.0.0.1:1", http.DefaultClient)
	if err := down(ctx, Job{Service: time.Millisecond}); err == nil {
		t.Error("submit to a closed port: got no error")
	}
}
