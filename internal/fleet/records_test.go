package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// checkRecords fails the test when the records r keeps differ from what
// its store holds: every harness reconcile and read checks it, so each
// test of the package checks that every write path keeps them true.
func checkRecords(t *testing.T, r *Reconciler) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recs.valid {
		return
	}
	var all []model.Instance
	var open []store.Intent
	if err := r.st.View(func(tx *store.Tx) error {
		var err error
		if all, err = tx.Instances(r.spec.Group); err != nil {
			return err
		}
		open, err = tx.OpenIntents(r.spec.Group)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(all, r.recs.all, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("the records kept differ from the store's instances (-store +kept):\n%s", d)
	}
	if d := cmp.Diff(open, r.recs.open, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("the records kept differ from the store's open intents (-store +kept):\n%s", d)
	}
}

// The records are read from the store once, kept through the
// reconciler's own writes (reconciles and operator actions alike), and
// read again after a write that failed: it may have committed or not.
func TestRecordsFollowTheReconcilersWrites(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(2)
	h.reconcile(2)
	if !h.r.recs.valid || len(h.r.recs.all) != 2 {
		t.Fatalf("records after two reconciles: %+v", h.r.recs)
	}
	id := h.prov.launched[0]
	if _, err := h.r.Protect(id); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := h.r.record(id); !got.Protected {
		t.Fatalf("protected by the operator, kept as %+v", got)
	}
	h.instances() // checks them against the store

	refused := errors.New("refused")
	h.r.mu.Lock()
	err := h.r.update(func(tx *txn) error {
		if err := tx.PutInstance(model.Instance{ID: "w-rolled-back", Group: "w", State: model.Launching, LaunchedAt: t0, StateSince: t0}); err != nil {
			return err
		}
		return refused
	})
	valid := h.r.recs.valid
	h.r.mu.Unlock()
	if !errors.Is(err, refused) || valid {
		t.Fatalf("a failed write: err %v, records still kept: %v", err, valid)
	}
	if s := h.reconcile(2); s.InService != 2 {
		t.Fatalf("after the records were read again: %+v", s)
	}
	if _, ok, _ := h.r.record("w-rolled-back"); ok {
		t.Fatal("a rolled-back write is in the records")
	}
}

// A restarted reconciler reads the store, not what the last one kept: a
// record written while it was down is seen.
func TestRecordsAreReadAfterARestart(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(1)
	h.reconcile(1)
	id := h.prov.launched[0]
	inst := find(h.instances(), id)
	inst.Protected = true
	if err := h.st.Update(func(tx *store.Tx) error { return tx.PutInstance(inst) }); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if err := h.r.Drain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := find(h.instances(), id); !got.Protected || got.State != model.Draining {
		t.Fatalf("after a restart: %+v", got)
	}
}

// The records keep the store's order (launch, then ID) as writes replace
// records, add them and move their launch time.
func TestRecordsKeepTheStoresOrder(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rs := records{valid: true, all: []model.Instance{{ID: "a", LaunchedAt: at(1)}, {ID: "b", LaunchedAt: at(2)}, {ID: "c", LaunchedAt: at(3)}}}
	for _, tc := range []struct {
		name string
		put  []model.Instance
		want []string
	}{
		{"replaced in place", []model.Instance{{ID: "b", LaunchedAt: at(2), State: model.Draining}}, []string{"a", "b", "c"}},
		{"added", []model.Instance{{ID: "0", LaunchedAt: at(2)}}, []string{"a", "0", "b", "c"}},
		{"launch moved", []model.Instance{{ID: "a", LaunchedAt: at(4)}}, []string{"0", "b", "c", "a"}},
	} {
		rs.apply(&txn{put: tc.put})
		var got []string
		for _, in := range rs.all {
			got = append(got, in.ID)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Fatalf("%s: order (-want +got):\n%s", tc.name, d)
		}
	}
}
