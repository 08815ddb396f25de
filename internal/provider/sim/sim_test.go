package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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

// A Step that skips the work between events reports, launches, fails and
// removes exactly as one that does it all: two systems of one seed, one
// of them doing the whole work at every Step, go through the same calls.
func TestQuietStepsMatchFullSteps(t *testing.T) {
	ctx := context.Background()
	for _, infra := range []Infra{
		{Boot: time.Minute},
		{Boot: time.Minute, BootJitter: 0.5, LaunchFailure: 0.2, MaxBooting: 3},
		{Boot: 0, LaunchFailure: 0.1},
	} {
		clk := &fakeNow{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
		var ws [2]noWork
		var ss [2]*System
		for i := range ss {
			s, err := New(infra, "i-", clk.now, rand.New(rand.NewPCG(7, 8)), &ws[i])
			if err != nil {
				t.Fatal(err)
			}
			s.Warm(3)
			ss[i] = s
		}
		ss[1].full = true
		ops := rand.New(rand.NewPCG(9, 10))
		for k := range 2000 {
			var got [2]bool
			var each [2][]string
			for i, s := range ss {
				got[i] = s.Step()
				s.Each(func(id string, serving, draining bool) {
					each[i] = append(each[i], fmt.Sprint(id, serving, draining))
				})
			}
			if got[0] != got[1] || ss[0].Running() != ss[1].count() || ss[0].Launches != ss[1].Launches ||
				ss[0].Failures != ss[1].Failures || !slices.Equal(each[0], each[1]) || !slices.Equal(ws[0].stopped, ws[1].stopped) {
				t.Fatalf("%+v, step %d: quiet Step %v, %d running, %d launches, %v; full Step %v, %d running, %d launches, %v",
					infra, k, got[0], ss[0].Running(), ss[0].Launches, each[0], got[1], ss[1].count(), ss[1].Launches, each[1])
			}
			op, n := ops.IntN(20), ops.IntN(8)
			for _, s := range ss {
				switch {
				case op == 0:
					_ = s.SetDesired(ctx, n)
				case op == 1 && len(s.insts) > 0:
					_ = s.Drain(ctx, s.insts[n%len(s.insts)].id)
				case op == 2 && len(s.insts) > 0:
					_ = s.Remove(ctx, []provider.Victim{{ID: s.insts[n%len(s.insts)].id}})
				}
			}
			clk.t = clk.t.Add(time.Duration(1+ops.IntN(30)) * time.Second)
		}
	}
}

// count is Running counted afresh.
func (s *System) count() int {
	n := 0
	for _, in := range s.insts {
		if !in.ready.IsZero() {
			n++
		}
	}
	return n
}
