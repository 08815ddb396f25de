package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// BenchmarkSettledReconcile reconciles 100 settled groups of 10 instances
// each, in one state file, as the daemon does every tick: what a reconcile
// that finds nothing to do costs (an observation, the records, the group's
// suspension).
//
//	go test -run '^$' -bench BenchmarkSettledReconcile ./internal/fleet
func BenchmarkSettledReconcile(b *testing.B) {
	const groups, size = 100, 10
	st, err := store.Open(filepath.Join(b.TempDir(), "ebb.db"), store.Options{Scratch: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(t0)
	ctx := context.Background()
	desired := func() int { return size }
	recs := make([]*Reconciler, groups)
	for i := range recs {
		name := fmt.Sprintf("g%03d", i)
		f, err := config.Parse("bench.yaml", fmt.Appendf(nil, "groups:\n  - {name: %s, capacity: {max: 100}, policies: [{fixed: {desired: %d}}]}\n", name, size))
		if err != nil {
			b.Fatal(err)
		}
		spec, err := NewSpec(f.Groups[0])
		if err != nil {
			b.Fatal(err)
		}
		sys := &capacitytest.Memory{Prefix: name + "-", Now: clk.Now}
		recs[i] = NewCapacity(spec, sys, st, Options{Clock: clk})
		if _, err := recs[i].Reconcile(ctx, desired); err != nil {
			b.Fatal(err)
		}
		sys.Converge()
		for range 3 {
			if _, err := recs[i].Reconcile(ctx, desired); err != nil {
				b.Fatal(err)
			}
		}
	}
	before := st.Writes()
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			s, err := r.Reconcile(ctx, desired)
			if err != nil || !s.Settled {
				b.Fatalf("%+v, %v: want it settled", s, err)
			}
		}
	}
	if w := st.Writes() - before; w != 0 {
		b.Fatalf("%d writes by settled groups", w)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*groups), "ns/reconcile")
}
