// Package capacitytest is the conformance suite every capacity provider
// (provider.Capacity) passes against its real system or one speaking its
// wire protocol: the desired count it sets is the one it observes, the
// instances it removes are the ones named and no others, removing what is
// gone is success, a count set by someone else is observed, and a call
// whose context has ended fails without acting.
package capacitytest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Harness is one group of a system the suite works with.
type Harness struct {
	// Open opens the provider on the group, which starts at 0.
	Open func(t *testing.T) provider.Capacity
	// Converge makes the system run what it was asked to: the test's
	// stand-in for a controller (create Pods up to replicas, launch ASG
	// instances), marking the new instances ready. Systems that converge
	// on their own may wait here instead, for at most a few seconds.
	Converge func(t *testing.T)
	// External sets the desired count behind ebb's back, as an operator
	// or another tool would.
	External func(t *testing.T, n int)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	p := h.Open(t)
	ctx := context.Background()
	observe := func(t *testing.T) provider.Observed {
		t.Helper()
		obs, err := p.Observe(ctx)
		if err != nil {
			t.Fatalf("observe: %v", err)
		}
		return obs
	}
	ids := func(obs provider.Observed) []string {
		var out []string
		for _, in := range obs.Instances {
			if !in.Leaving {
				out = append(out, in.ID)
			}
		}
		slices.Sort(out)
		return out
	}

	t.Run("set desired", func(t *testing.T) {
		for _, n := range []int{3, 3, 5} { // the second 3: setting what is set is success
			if err := p.SetDesired(ctx, n); err != nil {
				t.Fatalf("set desired %d: %v", n, err)
			}
		}
		h.Converge(t)
		obs := observe(t)
		if obs.Desired != 5 || len(ids(obs)) != 5 {
			t.Fatalf("after setting 5: desired %d, instances %v", obs.Desired, ids(obs))
		}
		for _, in := range obs.Instances {
			if in.ID == "" || in.LaunchedAt.IsZero() || !in.Ready {
				t.Errorf("instance %+v: want an ID, a launch time and ready once converged", in)
			}
		}
	})

	t.Run("remove names the victims", func(t *testing.T) {
		obs := observe(t)
		before := ids(obs)
		if len(before) < 3 {
			t.Fatalf("want at least 3 instances, have %v", before)
		}
		// Two from the middle, unless the system picks its own (a
		// StatefulSet's highest ordinals).
		names := []string{before[1], before[2]}
		if pk, ok := p.(provider.Picker); ok {
			names = pk.Pick(obs, 2)
		}
		victims := []provider.Victim{{ID: names[0]}, {ID: names[1]}}
		if err := p.Remove(ctx, victims); err != nil {
			t.Fatalf("remove %v: %v", victims, err)
		}
		h.Converge(t)
		obs = observe(t)
		after := ids(obs)
		want := slices.DeleteFunc(slices.Clone(before), func(id string) bool { return slices.Contains(names, id) })
		if obs.Desired != len(before)-2 || !slices.Equal(after, want) {
			t.Fatalf("after removing %v from %v: desired %d, instances %v; want %d, %v",
				names, before, obs.Desired, after, len(before)-2, want)
		}
		// Removing what is gone is success and changes nothing.
		if err := p.Remove(ctx, victims); err != nil {
			t.Fatalf("remove the same again: %v", err)
		}
		h.Converge(t)
		if obs := observe(t); obs.Desired != len(want) || !slices.Equal(ids(obs), want) {
			t.Fatalf("after removing them again: desired %d, instances %v; want unchanged", obs.Desired, ids(obs))
		}
	})

	t.Run("a count set by someone else is observed", func(t *testing.T) {
		h.External(t, 4)
		h.Converge(t)
		if obs := observe(t); obs.Desired != 4 || len(ids(obs)) != 4 {
			t.Fatalf("after an external change to 4: desired %d, instances %v", obs.Desired, ids(obs))
		}
	})

	t.Run("an ended context acts on nothing", func(t *testing.T) {
		before := observe(t)
		beforeIDs := ids(before) // the next Observe may reuse before's slice
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		if err := p.SetDesired(ctx, 9); err == nil {
			t.Error("set desired with an ended context succeeded")
		}
		if err := p.Remove(ctx, []provider.Victim{{ID: beforeIDs[0]}}); err == nil {
			t.Error("remove with an ended context succeeded")
		}
		h.Converge(t)
		if after := observe(t); after.Desired != before.Desired || !slices.Equal(ids(after), beforeIDs) {
			t.Fatalf("calls with an ended context changed the group: %d %v → %d %v",
				before.Desired, beforeIDs, after.Desired, ids(after))
		}
	})
}
