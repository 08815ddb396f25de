package fleet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// records is the group's instance records and open intents as the store
// holds them, kept between reconciles: a reconcile looks at them three or
// four times (observe, resume, load, and again after it acted), and
// reading them from the store each time was most of what a reconcile that
// writes nothing costs, at every tick of every group.
//
// The store stays the truth. The records are read from it at the first
// use (a start, a restart resuming what a crash left), and again whenever
// they may differ from it: after a write transaction of the reconciler's
// that failed (it may or may not have committed), and when the store took
// in changes from elsewhere (Store.Foreign: a replica's catch-up). Every
// other writer of the group's instances and intents is the reconciler
// itself — reconciles, operator actions, Adopt — and writes through
// update, which applies to the records what it committed, as the store
// decodes it: the records are what a read would return, to the
// nanosecond and the time zone.
type records struct {
	valid   bool
	foreign uint64           // Store.Foreign when they were read
	all     []model.Instance // every record, ended ones too, in the store's order
	open    []store.Intent   // open intents, oldest first
}

// instances returns the group's records, ended ones included, in the
// store's order (launch, then ID). The slice and what it holds are the
// reconciler's, changed in place by its next write: callers copy (own)
// what they change or keep across a write.
func (r *Reconciler) instances() ([]model.Instance, error) {
	if err := r.readRecords(); err != nil {
		return nil, err
	}
	return r.recs.all, nil
}

// openIntents returns the group's open intents, oldest first. The slice is
// the reconciler's, replaced by a write that adds or finishes one.
func (r *Reconciler) openIntents() ([]store.Intent, error) {
	if err := r.readRecords(); err != nil {
		return nil, err
	}
	return r.recs.open, nil
}

// record returns one of the group's records.
func (r *Reconciler) record(id string) (model.Instance, bool, error) {
	all, err := r.instances()
	if err != nil {
		return model.Instance{}, false, err
	}
	i := slices.IndexFunc(all, func(in model.Instance) bool { return in.ID == id })
	if i < 0 {
		return model.Instance{}, false, nil
	}
	return own(all[i]), true, nil
}

// readRecords reads the records from the store unless those kept are
// still what it holds.
func (r *Reconciler) readRecords() error {
	foreign := r.st.Foreign() // before the read: a change after it moves it
	if r.recs.valid && r.recs.foreign == foreign {
		return nil
	}
	var all []model.Instance
	var open []store.Intent
	err := r.st.View(func(tx *store.Tx) error {
		var err error
		if all, err = tx.Instances(r.spec.Group); err != nil {
			return err
		}
		open, err = tx.OpenIntents(r.spec.Group)
		return err
	})
	if err != nil {
		r.recs = records{}
		return fmt.Errorf("read instances of %s: %w", r.spec.Group, err)
	}
	r.recs = records{valid: true, foreign: foreign, all: all, open: open}
	return nil
}

// txn is one of the reconciler's write transactions. It notes which
// records and intents of the group it writes, so that once it commits the
// kept records are brought up to date.
type txn struct {
	*store.Tx
	group   string
	put     []model.Instance // records put, as a read will return them (store.Stored)
	dels    []string         // instance IDs deleted
	intents bool             // an intent was added or finished
	other   bool             // a record of another group was written
	open    []store.Intent   // the open intents, read back in the transaction
}

// PutInstance records inst and notes it.
func (t *txn) PutInstance(inst model.Instance) error {
	if inst.Group != t.group {
		t.other = true
	}
	if err := t.Tx.PutInstance(inst); err != nil {
		return err
	}
	rec, err := store.Stored(inst)
	if err != nil {
		return err
	}
	t.dels = slices.DeleteFunc(t.dels, func(id string) bool { return id == inst.ID })
	if i := slices.IndexFunc(t.put, func(in model.Instance) bool { return in.ID == inst.ID }); i >= 0 {
		t.put[i] = rec
	} else {
		t.put = append(t.put, rec)
	}
	return nil
}

// DeleteInstance deletes a record and notes it.
func (t *txn) DeleteInstance(group, id string) error {
	if group != t.group {
		t.other = true
	}
	t.put = slices.DeleteFunc(t.put, func(in model.Instance) bool { return in.ID == id })
	t.dels = append(t.dels, id)
	return t.Tx.DeleteInstance(group, id)
}

// AddIntent records an intent and notes it.
func (t *txn) AddIntent(in store.Intent) (store.Intent, error) {
	if in.Group != t.group {
		t.other = true
	}
	t.intents = true
	return t.Tx.AddIntent(in)
}

// FinishIntent records an intent's outcome and notes it.
func (t *txn) FinishIntent(seq uint64, now time.Time, result string) error {
	t.intents = true
	return t.Tx.FinishIntent(seq, now, result)
}

// readBack reads the open intents back in the transaction, when it added
// or finished one, as the store decodes them.
func (t *txn) readBack() error {
	if !t.intents {
		return nil
	}
	var err error
	t.open, err = t.OpenIntents(t.group)
	return err
}

// update runs fn in a store write transaction, counting it (a reconcile
// that wrote something reads the fleet back for its status), with the
// system's count if it changed (carryExpect), and brings the kept records
// up to date with what it committed. A transaction that
// failed may have committed or not (a replica's write that reached
// PostgreSQL only): the records are read again from the store.
func (r *Reconciler) update(fn func(*txn) error) error {
	r.writes++
	foreign := r.st.Foreign()
	// Reused, with the room its notes took: nothing keeps it past the
	// call, and it keeps nothing of the transaction (which holds what the
	// store's file had in memory for it) once done.
	t := &r.txn
	*t = txn{group: r.spec.Group, put: t.put[:0], dels: t.dels[:0]}
	defer func() { t.Tx, t.open = nil, nil }()
	expect := -1
	err := r.st.Update(func(tx *store.Tx) error {
		*t = txn{Tx: tx, group: r.spec.Group, put: t.put[:0], dels: t.dels[:0]}
		if err := fn(t); err != nil {
			return err
		}
		var err error
		if expect, err = r.carryExpect(t); err != nil {
			return err
		}
		if !r.recs.valid {
			return nil // read whole at the next use
		}
		return t.readBack()
	})
	if err == nil && expect >= 0 {
		r.cap.saved = expect
	}
	if err != nil || t.other || r.st.Foreign() != foreign {
		r.recs = records{}
		return err
	}
	if r.recs.valid {
		r.recs.apply(t)
	}
	return nil
}

// apply brings the records up to date with a committed transaction.
func (rs *records) apply(t *txn) {
	if len(t.dels) > 0 {
		rs.all = slices.DeleteFunc(rs.all, func(in model.Instance) bool { return slices.Contains(t.dels, in.ID) })
	}
	moved := false // a record was added, or its launch time changed
	for _, in := range t.put {
		if i := slices.IndexFunc(rs.all, func(o model.Instance) bool { return o.ID == in.ID }); i >= 0 {
			moved = moved || !rs.all[i].LaunchedAt.Equal(in.LaunchedAt)
			rs.all[i] = in
		} else {
			rs.all = append(rs.all, in)
			moved = true
		}
	}
	if moved {
		// The store's order (Tx.Instances): launch, then ID.
		slices.SortFunc(rs.all, func(a, b model.Instance) int {
			if c := a.LaunchedAt.Compare(b.LaunchedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	if t.intents {
		rs.open = t.open
	}
}

// own returns a copy of inst sharing nothing mutable with the records.
func own(inst model.Instance) model.Instance {
	if p := inst.Process; p != nil {
		cp := *p
		inst.Process = &cp
	}
	return inst
}
