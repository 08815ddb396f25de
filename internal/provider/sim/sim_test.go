package sim

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
)

// noWork is a workload whose instances hold nothing; it records stops.
type noWork struct{ stopped []string }

func (*noWork) Busy(string) bool    { return false }
func (w *noWork) Stopped(id string) { w.stopped = append(w.stopped, id) }

type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

// The simulated system is a capacity provider like any other: it passes
// the suite the real ones pass.
func TestConformance(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	s, err := New(Infra{Boot: 30 * time.Second}, "i-", clk.now, rand.New(rand.NewPCG(1, 2)), &noWork{})
	if err != nil {
		t.Fatal(err)
	}
	capacitytest.Run(t, capacitytest.Harness{
		Open: func(*testing.T) provider.Capacity { return s },
		Converge: func(*testing.T) {
			s.Step()
			clk.t = clk.t.Add(30 * time.Second) // booted
			s.Step()
		},
		External: func(_ *testing.T, n int) { s.desired = n },
	})
}

// Boot times, failed launches, the boot limit and throttling behave as
// configured, for a seed.
func TestInfra(t *testing.T) {
	ctx := context.Background()
	clk := &fakeNow{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	w := &noWork{}
	s, err := New(Infra{Boot: time.Minute, BootJitter: 0.5, LaunchFailure: 0.2, MaxBooting: 5}, "i-", clk.now, rand.New(rand.NewPCG(3, 4)), w)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDesired(ctx, 40); err != nil {
		t.Fatal(err)
	}
	maxBooting, ready := 0, 0
	for range 3600 {
		s.Step()
		obs, _ := s.Observe(ctx)
		booting := 0
		ready = 0
		for _, in := range obs.Instances {
			if in.Ready {
				ready++
			}
		}
		booting = s.Running() - ready
		maxBooting = max(maxBooting, booting)
		clk.t = clk.t.Add(time.Second)
	}
	if maxBooting > 5 {
		t.Errorf("%d booting at once; the limit is 5", maxBooting)
	}
	if ready != 40 {
		t.Errorf("%d ready after an hour; want the 40 asked for", ready)
	}
	if s.Failures == 0 || s.Launches != 40+s.Failures || len(w.stopped) != s.Failures {
		t.Errorf("%d launches, %d failures, %d stopped: want every failure relaunched and reported", s.Launches, s.Failures, len(w.stopped))
	}
	if err := (Infra{LaunchFailure: 1}).Validate(); err == nil {
		t.Error("a launch failure probability of 1 is accepted")
	}
	th, _ := New(Infra{Throttle: 0.5}, "t-", clk.now, rand.New(rand.NewPCG(5, 6)), w)
	refused := 0
	for range 200 {
		if _, err := th.Observe(ctx); err != nil {
			refused++
		}
	}
	if refused < 60 || refused > 140 || th.Throttled != refused {
		t.Errorf("%d of 200 calls refused at a throttle of 0.5 (counted %d)", refused, th.Throttled)
	}
}
