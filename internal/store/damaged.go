package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is returned by Open for a state file that is not a readable
// store: truncated, overwritten in part, or not a store at all.
var ErrDamaged = errors.New("damaged")

// damaged is the error for a state file that cannot be used, saying what to
// do: ebb never starts afresh over a file it cannot read, since the
// instances, intents and drains it records would be forgotten.
func damaged(path string, cause any) error {
	return fmt.Errorf("state file %s is %w (%v): ebb will not start over it. "+
		"Restore it from a backup; or move it aside to start with an empty state, "+
		"and ebb adopts the instances it finds running", path, ErrDamaged, cause)
}

// openChecked opens the bbolt file and reads every page reachable from its
// root, so that a damaged file is an error here rather than a panic or a
// fault later. bbolt panics on pages it cannot decode and a page beyond a
// truncated file's end faults; both are turned into errors for this
// goroutine only.
func openChecked(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, damaged(path, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		var pe *fs.PathError
		if errors.Is(err, bolt.ErrTimeout) || errors.As(err, &pe) {
			return nil, err // the file could not be opened or locked
		}
		return nil, damaged(path, err) // it was read and is not a store
	}
	if err := db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if need := tx.Size(); fi.Size() < need {
			return fmt.Errorf("truncated: %d bytes of the %d its pages need", fi.Size(), need)
		}
		return walk(tx)
	}); err != nil {
		_ = db.Close()
		return nil, damaged(path, err)
	}
	return db, nil
}

// walk visits every bucket and key of the file.
func walk(tx *bolt.Tx) error {
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walkBucket(b, 0) })
}

func walkBucket(b *bolt.Bucket, depth int) error {
	if depth > 16 {
		return errors.New("buckets nested deeper than this ebb ever writes")
	}
	return b.ForEach(func(k, v []byte) error {
		if v != nil {
			return nil
		}
		sub := b.Bucket(k)
		if sub == nil {
			return fmt.Errorf("key %q is neither a value nor a bucket", k)
		}
		return walkBucket(sub, depth+1)
	})
}
