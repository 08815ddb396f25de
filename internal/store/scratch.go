package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// scratchBatch is how many Updates a scratch store commits together.
// Each bbolt commit writes every page on the path from the root to what
// changed and a meta page: a simulation that reconciles a thousand groups
// writes a few times per group per minute of its virtual time, and its
// commits were most of what it cost. A scratch store is thrown away after
// use, so when its writes reach the file does not matter; what its reads
// return does, and they read the open batch.
const scratchBatch = 10000

// ErrScratchLost is wrapped by every call to a scratch store after an
// Update whose fn failed: bbolt cannot roll back that fn's writes alone, so
// the whole batch went with them, and the store refuses to go on without
// the writes it had already reported done.
var ErrScratchLost = errors.New("a failed write lost the scratch store's uncommitted writes")

// batch is a scratch store's open write transaction: Updates write into it
// and Views read from it, one at a time, until scratchBatch Updates are in
// it or the store is closed, when it commits.
type batch struct {
	mu    sync.Mutex
	tx    *bolt.Tx        // nil when none is open
	n     int             // Updates in tx
	err   error           // set once a failed fn lost the batch
	whole map[string]bool // Tx.whole of tx, shared by its Updates
}

// view runs fn on the open batch, or in a read-only transaction when none
// is open.
func (b *batch) view(s *Store, fn func(*Tx) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.tx == nil {
		return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx, opt: s.opt, dec: s.dec}) })
	}
	return fn(&Tx{btx: b.tx, opt: s.opt, dec: s.dec})
}

// update runs fn in the open batch, opening one if needed, and commits
// the batch once it holds scratchBatch Updates. A failed fn (an error or a
// panic) rolls the whole batch back and fails the store.
func (b *batch) update(s *Store, fn func(*Tx) error) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.tx == nil {
		if b.tx, err = s.db.Begin(true); err != nil {
			b.tx = nil
			return err
		}
		b.whole = map[string]bool{}
	}
	done := false
	defer func() {
		if !done {
			_ = b.tx.Rollback()
			b.tx = nil
			b.err = fmt.Errorf("store %s: %w", s.path, ErrScratchLost)
		}
	}()
	tx := &Tx{btx: b.tx, opt: s.opt, dec: s.dec, whole: b.whole}
	err = fn(tx)
	// The batch's reads see its writes at once: they are in.
	s.dec.statesWritten(tx.states)
	if err != nil {
		return err
	}
	done = true
	if b.n++; b.n >= scratchBatch {
		return b.commit()
	}
	return nil
}

// commit commits the open batch, if any; b.mu held.
func (b *batch) commit() error {
	if b.tx == nil {
		return nil
	}
	tx := b.tx
	b.tx, b.n = nil, 0
	if err := tx.Commit(); err != nil {
		b.err = fmt.Errorf("%w: %w", ErrScratchLost, err)
		return b.err
	}
	return nil
}

// close commits the open batch, if any, before the store closes.
func (b *batch) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil // nothing left to commit
	}
	return b.commit()
}
