package store

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// bucket is a bbolt bucket that knows its path from the root and records
// its writes in the transaction's changes, when the store keeps a copy of
// them elsewhere (PostgreSQL). Reads (Get, Cursor, ForEach, …) are bbolt's
// own; every write in this package goes through the methods below.
type bucket struct {
	*boltBucket
	path []byte // the bucket names from the root, joined by pathSep
	ch   *changes
}

// boltBucket names the embedded bbolt bucket apart from the Bucket method.
type boltBucket = bolt.Bucket

// pathSep joins bucket names in a path. Names are group and signal names
// and this package's own, none of which holds a NUL byte.
const pathSep = 0

func (tx *Tx) root(name []byte) *bucket {
	b := tx.btx.Bucket(name)
	if b == nil {
		return nil
	}
	if tx.ch == nil {
		return &bucket{boltBucket: b} // nothing is recorded: no paths needed
	}
	return &bucket{boltBucket: b, path: bytes.Clone(name), ch: tx.ch}
}

func (b *bucket) child(name []byte, sub *bolt.Bucket) *bucket {
	if b.ch == nil {
		return &bucket{boltBucket: sub}
	}
	return &bucket{boltBucket: sub, path: joinPath(b.path, name), ch: b.ch}
}

func joinPath(parent, name []byte) []byte {
	p := make([]byte, 0, len(parent)+1+len(name))
	return append(append(append(p, parent...), pathSep), name...)
}

// Bucket returns the named sub-bucket, or nil.
func (b *bucket) Bucket(name []byte) *bucket {
	sub := b.boltBucket.Bucket(name)
	if sub == nil {
		return nil
	}
	return b.child(name, sub)
}

// CreateBucketIfNotExists returns the named sub-bucket, creating it. Only
// a bucket it creates is recorded: one that was there already is in every
// copy (writers open their buckets this way at each write, so recording
// them all would send every one of them at each commit).
func (b *bucket) CreateBucketIfNotExists(name []byte) (*bucket, error) {
	if sub := b.boltBucket.Bucket(name); sub != nil {
		return b.child(name, sub), nil
	}
	sub, err := b.boltBucket.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	c := b.child(name, sub)
	b.ch.bucket(c.path)
	return c, nil
}

// DeleteBucket removes the named sub-bucket and all it holds.
func (b *bucket) DeleteBucket(name []byte) error {
	if err := b.boltBucket.DeleteBucket(name); err != nil {
		return err
	}
	b.ch.dropBucket(joinPath(b.path, name))
	return nil
}

// Put sets key to value.
func (b *bucket) Put(key, value []byte) error {
	if err := b.boltBucket.Put(key, value); err != nil {
		return err
	}
	b.ch.put(b.path, key, value)
	return nil
}

// Delete removes key.
func (b *bucket) Delete(key []byte) error {
	if err := b.boltBucket.Delete(key); err != nil {
		return err
	}
	b.ch.del(b.path, key)
	return nil
}

// NextSequence returns the bucket's next sequence number.
func (b *bucket) NextSequence() (uint64, error) {
	seq, err := b.boltBucket.NextSequence()
	if err != nil {
		return 0, err
	}
	b.ch.sequence(b.path, seq)
	return seq, nil
}

// changes is what one write transaction changed, reduced to its net
// effect: the bucket subtrees it dropped, then the buckets it has (with
// their sequence where it moved) and each key's last value or deletion.
// Applied in that order to another copy, it brings the copy to the
// transaction's result. A nil *changes records nothing.
type changes struct {
	Dropped [][]byte // bucket paths whose whole subtree is gone first
	Buckets map[string]int64
	Keys    map[string]map[string]write // path → key → last write
}

// write is a key's last value, or its deletion.
type write struct {
	Value   []byte
	Deleted bool
}

func newChanges() *changes {
	return &changes{Buckets: map[string]int64{}, Keys: map[string]map[string]write{}}
}

func (c *changes) empty() bool {
	return c == nil || len(c.Dropped) == 0 && len(c.Buckets) == 0 && len(c.Keys) == 0
}

// noSeq marks a bucket created or kept whose sequence did not move.
const noSeq = -1

func (c *changes) bucket(path []byte) {
	if c == nil {
		return
	}
	if _, ok := c.Buckets[string(path)]; !ok {
		c.Buckets[string(path)] = noSeq
	}
}

func (c *changes) sequence(path []byte, seq uint64) {
	if c == nil {
		return
	}
	c.Buckets[string(path)] = int64(seq)
}

func (c *changes) put(path, key, value []byte) {
	if c == nil {
		return
	}
	c.keys(path)[string(key)] = write{Value: bytes.Clone(value)}
}

func (c *changes) keys(path []byte) map[string]write {
	keys := c.Keys[string(path)]
	if keys == nil {
		keys = map[string]write{}
		c.Keys[string(path)] = keys
	}
	return keys
}

func (c *changes) del(path, key []byte) {
	if c == nil {
		return
	}
	c.keys(path)[string(key)] = write{Deleted: true}
}

// dropBucket forgets what the transaction wrote under path and records the
// subtree as dropped.
func (c *changes) dropBucket(path []byte) {
	if c == nil {
		return
	}
	for p := range c.Keys {
		if under(p, path) {
			delete(c.Keys, p)
		}
	}
	for p := range c.Buckets {
		if under(p, path) {
			delete(c.Buckets, p)
		}
	}
	c.Dropped = append(c.Dropped, bytes.Clone(path))
}

// under reports whether path p is root or inside it.
func under(p string, root []byte) bool {
	return p == string(root) || len(p) > len(root) && p[:len(root)] == string(root) && p[len(root)] == pathSep
}

// apply makes the changes in a bbolt transaction: how a copy follows
// another's writes.
func (c *changes) apply(btx *bolt.Tx) error {
	for _, p := range c.Dropped {
		parent, name := splitPath(p)
		if parent == nil {
			if btx.Bucket(name) != nil {
				if err := btx.DeleteBucket(name); err != nil {
					return fmt.Errorf("drop bucket %q: %w", p, err)
				}
			}
			continue
		}
		if pb := lookup(btx, parent); pb != nil && pb.Bucket(name) != nil {
			if err := pb.DeleteBucket(name); err != nil {
				return fmt.Errorf("drop bucket %q: %w", p, err)
			}
		}
	}
	// Parents sort before their children.
	for _, p := range slices.Sorted(maps.Keys(c.Buckets)) {
		b, err := create(btx, []byte(p))
		if err != nil {
			return err
		}
		if seq := c.Buckets[p]; seq != noSeq {
			if err := b.SetSequence(uint64(seq)); err != nil {
				return fmt.Errorf("set sequence of %q: %w", p, err)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(c.Keys)) {
		b := lookup(btx, []byte(p))
		if b == nil {
			return fmt.Errorf("bucket %q is missing", p)
		}
		for k, w := range c.Keys[p] {
			var err error
			if w.Deleted {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), w.Value)
			}
			if err != nil {
				return fmt.Errorf("write key %q of %q: %w", k, p, err)
			}
		}
	}
	return nil
}

// splitPath returns a path's parent (nil at the root) and last name.
func splitPath(p []byte) (parent, name []byte) {
	i := bytes.LastIndexByte(p, pathSep)
	if i < 0 {
		return nil, p
	}
	return p[:i], p[i+1:]
}

// lookup returns the bucket at path, or nil.
func lookup(btx *bolt.Tx, path []byte) *bolt.Bucket {
	names := bytes.Split(path, []byte{pathSep})
	b := btx.Bucket(names[0])
	for _, n := range names[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(n)
	}
	return b
}

// create returns the bucket at path, creating it and its parents.
func create(btx *bolt.Tx, path []byte) (*bolt.Bucket, error) {
	names := bytes.Split(path, []byte{pathSep})
	b, err := btx.CreateBucketIfNotExists(names[0])
	for _, n := range names[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists(n)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", path, err)
	}
	return b, nil
}
