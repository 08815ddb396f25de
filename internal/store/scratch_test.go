package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// A scratch store's reads see its Updates at once, though they commit
// together: a batch at a time, and what is left at Close.
func TestScratchBatchesCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scratch.db")
	s, err := Open(path, Options{Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(i int) {
		t.Helper()
		mustUpdate(t, s, func(tx *Tx) error {
			return tx.PutInstance(model.Instance{ID: fmt.Sprintf("w-%d", i), Group: "w", State: model.Launching, LaunchedAt: t0, StateSince: t0})
		})
	}
	count := func(s *Store) int {
		t.Helper()
		var n int
		mustView(t, s, func(tx *Tx) error {
			insts, err := tx.Instances("w")
			n = len(insts)
			return err
		})
		return n
	}
	put(0)
	if n := count(s); n != 1 || s.batch.tx == nil {
		t.Fatalf("after one Update: %d instances read, batch open %v; want 1, open", n, s.batch.tx != nil)
	}
	for i := 1; i < scratchBatch; i++ {
		put(i)
	}
	if s.batch.tx != nil {
		t.Fatalf("%d Updates in the batch after %d: it did not commit", s.batch.n, scratchBatch)
	}
	put(scratchBatch)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := count(again); n != scratchBatch+1 {
		t.Fatalf("%d instances after Close, want %d", n, scratchBatch+1)
	}
}

// An Update whose fn fails cannot take back its own writes alone: the
// batch goes with them, and the store refuses everything after, instead of
// reading a state without writes it reported done.
func TestScratchFailedUpdateLosesTheStore(t *testing.T) {
	s := openTemp(t, Options{Scratch: true})
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutGroupState("w", GroupState{Desired: 3}) })
	refused := errors.New("refused")
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutGroupState("w", GroupState{Desired: 4}); err != nil {
			return err
		}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if err := s.View(func(*Tx) error { return nil }); !errors.Is(err, ErrScratchLost) {
		t.Fatalf("View after a failed Update = %v, want ErrScratchLost", err)
	}
	if err := s.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrScratchLost) {
		t.Fatalf("Update after a failed Update = %v, want ErrScratchLost", err)
	}
}
