package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the current layout version. Open writes it into a new
// file, migrates an older file up to it and refuses a newer one.
const SchemaVersion = 1

// ErrInUse is returned by Open when another process holds the file's lock
// past Options.Timeout.
var ErrInUse = errors.New("in use by another process")

// Defaults for zero Options fields.
const (
	DefaultJournalMax = 1000
	DefaultJournalAge = 7 * 24 * time.Hour
	DefaultSignalAge  = 6 * time.Hour
	DefaultSignalMax  = 240
	DefaultTimeout    = 5 * time.Second
)

// Options tune retention and locking. Zero fields take the defaults; negative
// ones are an error.
type Options struct {
	// JournalMax is how many decisions, and how many done intents, are kept
	// per group; default 1000.
	JournalMax int
	// JournalAge drops decisions older than this, measured from the time of
	// the decision being appended; default 7 days.
	JournalAge time.Duration
	// SignalAge is how much signal history is kept per group; default 6h.
	SignalAge time.Duration
	// SignalMax bounds the samples kept per signal of a group, however
	// often it is evaluated; default 240.
	SignalMax int
	// Timeout is how long Open waits for the file lock held by another ebb;
	// default 5s.
	Timeout time.Duration
	// Scratch is for a store thrown away after use (a simulation's), never
	// for ebb run's: it does not sync its commits to disk, and it commits
	// its Updates together, ten thousand at a time (scratch.go), its reads
	// reading what is not committed yet. One is used by one goroutine at a
	// time: a View or Update inside another's fn waits forever.
	Scratch bool
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.JournalMax < 0 {
		errs = append(errs, fmt.Errorf("journal max %d: must be >= 0", o.JournalMax))
	}
	if o.SignalMax < 0 {
		errs = append(errs, fmt.Errorf("signal max %d: must be >= 0", o.SignalMax))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"journal age", o.JournalAge}, {"signal age", o.SignalAge}, {"timeout", o.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be >= 0", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if o.JournalMax == 0 {
		o.JournalMax = DefaultJournalMax
	}
	if o.JournalAge == 0 {
		o.JournalAge = DefaultJournalAge
	}
	if o.SignalAge == 0 {
		o.SignalAge = DefaultSignalAge
	}
	if o.SignalMax == 0 {
		o.SignalMax = DefaultSignalMax
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o, nil
}

// appendFill is how full bbolt fills a page before it splits, in buckets
// whose keys only ever grow (journal, samples, operator log): pages that
// will not be inserted into again are packed instead of left half empty.
const appendFill = 0.95

// initialMmap is the address space the state file is mapped with at first.
const initialMmap = 1 << 30

// Store is an open state file. Its methods are safe for concurrent use: bbolt
// runs one writer at a time beside any number of readers.
type Store struct {
	db     *bolt.DB
	path   string
	opt    Options
	writes atomic.Uint64
	repl   *replica     // on PostgreSQL: the link; nil for a file
	dec    *decodeCache // instances and group states as last decoded
	batch  *batch       // a scratch store's uncommitted Updates; nil for others
}

// Open opens or creates the state file at path, waiting up to opt.Timeout for
// its lock, and brings its layout to SchemaVersion.
func Open(path string, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := openChecked(path, &bolt.Options{
		Timeout: opt.Timeout,
		// The free page list is kept as a map, so finding free pages in a
		// large file is cheap, and the mapping starts large (address
		// space, not memory) so that a growing file is not remapped, which
		// copies every page a transaction holds. (The free list is still
		// written at each commit: rebuilding it at open walks the file in a
		// goroutine of bbolt's, where a damaged page would crash ebb.)
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmap,
		NoSync:          opt.Scratch, NoFreelistSync: opt.Scratch,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("store %s is %w", path, ErrInUse)
	}
	if errors.Is(err, ErrDamaged) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return upgrade(tx, path) }); err != nil {
		// Release the lock: the caller cannot use a store it did not get.
		_ = db.Close()
		return nil, err
	}
	st := &Store{db: db, path: path, opt: opt, dec: newDecodeCache()}
	if opt.Scratch {
		st.batch = &batch{}
	}
	return st, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	if r := s.repl; r != nil {
		r.resign()
		r.pool.Close()
		err := s.db.Close()
		if r.tmpDir != "" {
			os.RemoveAll(r.tmpDir)
		}
		if err != nil {
			return fmt.Errorf("close the local copy of store %s: %w", s.path, err)
		}
		return nil
	}
	var err error
	if s.batch != nil {
		err = s.batch.close()
	}
	if err := errors.Join(err, s.db.Close()); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store was opened from, or the database.
func (s *Store) Path() string { return s.path }

// View runs fn in a read-only transaction that sees one consistent snapshot.
// The Tx must not be used after fn returns.
func (s *Store) View(fn func(*Tx) error) error {
	if s.batch != nil {
		return s.batch.view(s, fn)
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx, opt: s.opt, dec: s.dec}) })
}

// Update runs fn in a read-write transaction: fn's writes commit together
// when it returns nil, and none of them do when it returns an error (which
// Update returns unchanged) or panics. The Tx must not be used after fn
// returns.
func (s *Store) Update(fn func(*Tx) error) error {
	s.writes.Add(1)
	if s.repl != nil {
		return s.repl.update(s, fn)
	}
	if s.batch != nil {
		return s.batch.update(s, fn)
	}
	var tx *Tx
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx = &Tx{btx: btx, opt: s.opt, dec: s.dec}
		return fn(tx)
	})
	if tx != nil {
		s.dec.statesWritten(tx.states) // committed or not: after the commit
	}
	return err
}

// StateVersion moves whenever the group's state (GroupState) may have
// changed: once a write of it by this process's Update is in (committed
// or not), and whenever the store takes in changes from elsewhere
// (Foreign). A reader that read StateVersion before reading the state and
// finds it unchanged later has nothing new to read.
func (s *Store) StateVersion(group string) uint64 {
	return s.dec.stateWrites(group) + s.Foreign()
}

// Writes returns how many write transactions (Update calls) the store has
// opened since Open, committed or not: each one that commits costs the
// disk a page write and fdatasync, so idle work should open none.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Version grows whenever the state may have changed: an Update on a file
// store, a change applied to a replica's local copy (its own or one it
// followed). A reader that saw a Version and sees it again has nothing new
// to read.
func (s *Store) Version() uint64 {
	if s.repl != nil {
		return s.repl.version.Load()
	}
	return s.writes.Load()
}

// Foreign grows whenever the local copy took in changes this process's
// Update did not make: a replica's reload or catch-up (what the leader
// wrote, or a write of its own that reached PostgreSQL but not the copy).
// It grows only after they are in, so a reader that read Foreign before
// a View and finds it unchanged later knows the View missed nothing of
// theirs. A file store has no other writer (its lock), so its Foreign
// never moves. Whoever keeps a copy of what it wrote itself, instead of
// reading it back, must drop the copy when Foreign moves.
func (s *Store) Foreign() uint64 {
	if s.repl != nil {
		return s.repl.foreign.Load()
	}
	return 0
}

// Tx is a transaction on the store, handed to View and Update callbacks.
type Tx struct {
	btx *bolt.Tx
	opt Options
	ch  *changes // recorded writes, when the store keeps a copy elsewhere
	// dec decodes instances and group states, remembering them; nil
	// decodes each read.
	dec *decodeCache
	// groupsRoot is the root bucket of groups once opened, and opened the
	// group bucket last opened: a transaction's reads and writes open
	// one group's bucket again and again, and nothing deletes either
	// while it runs.
	groupsRoot *bucket
	opened     struct {
		name   string
		bucket *bucket
	}
	// states are the groups whose state the transaction wrote, for
	// StateVersion.
	states []string
	// whole holds the groups writeGroup found with all their sub-buckets
	// in this bbolt transaction (nil until one is): nothing deletes a
	// group's sub-bucket, so they are there until it ends, and the next
	// write to the group need not look again. The Updates of a scratch
	// store, which share one bbolt transaction, share it too.
	whole map[string]bool
}

// Root bucket and key names; see doc.go for the layout.
var (
	bucketMeta         = []byte("meta")
	bucketIntentGroups = []byte("intent_groups")
	bucketGroups       = []byte("groups")
	keySchema          = []byte("schema")
)

// migration upgrades a file from one schema version to the next.
type migration struct {
	from  uint64
	name  string
	apply func(*bolt.Tx) error
}

// migrations[i] upgrades version i to i+1; all run in Open's transaction, so
// a crash mid-migration leaves the old version intact.
var migrations = []migration{
	// Version 0 is a file with no layout yet; the root buckets every version
	// needs are created by upgrade itself, so there is nothing to move.
	{from: 0, name: "initial layout", apply: func(*bolt.Tx) error { return nil }},
}

// upgrade reads the file's schema version, refuses a newer one, runs the
// migrations from an older one and makes sure the root buckets exist.
func upgrade(tx *bolt.Tx, path string) error {
	var version uint64 // no version: a new file
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("store %s has a malformed schema version (%d bytes)", path, len(v))
			}
			version = binary.BigEndian.Uint64(v)
		}
	}
	if version > SchemaVersion {
		return fmt.Errorf("store %s has schema version %d; this ebb understands up to %d", path, version, SchemaVersion)
	}
	for _, m := range migrations[version:SchemaVersion] {
		if err := m.apply(tx); err != nil {
			return fmt.Errorf("migrate store %s from schema version %d (%s): %w", path, m.from, m.name, err)
		}
	}
	for _, name := range [][]byte{bucketMeta, bucketIntentGroups, bucketGroups, bucketRegistry} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s in store %s: %w", name, path, err)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keySchema, u64key(SchemaVersion)); err != nil {
		return fmt.Errorf("write schema version to store %s: %w", path, err)
	}
	return nil
}

// u64key encodes a sequence number so byte order is numeric order.
func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// timeKey encodes t as its UnixNano with the sign bit flipped, so byte order
// is time order across the whole range (1678–2262) UnixNano covers.
func timeKey(t time.Time) []byte { return u64key(uint64(t.UnixNano()) ^ 1<<63) }

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)^1<<63)).UTC()
}

var (
	minKeyTime = time.Unix(0, -1<<63)
	maxKeyTime = time.Unix(0, 1<<63-1)
)

// inKeyRange reports whether timeKey(t) represents t exactly.
func inKeyRange(t time.Time) bool { return !t.Before(minKeyTime) && !t.After(maxKeyTime) }

// Group sub-bucket and key names.
var (
	keyState          = []byte("state")
	bucketInstances   = []byte("instances")
	bucketIntents     = []byte("intents")
	bucketOpen        = []byte("open")
	bucketDecisions   = []byte("decisions")
	bucketSignals     = []byte("signals")
	bucketEvents      = []byte("events")
	groupSubBuckets   = [][]byte{bucketInstances, bucketIntents, bucketOpen, bucketDecisions, bucketSignals, bucketEvents}
	errEmptyGroupName = errors.New("group name is empty")
)

// readGroup returns the group's bucket, or nil when nothing was ever written
// for it: readers treat that as empty.
func (tx *Tx) readGroup(group string) *bucket {
	if group == "" {
		return nil
	}
	if g := tx.opened.bucket; g != nil && tx.opened.name == group {
		return g
	}
	groups := tx.groups()
	if groups == nil {
		return nil
	}
	g := groups.Bucket([]byte(group))
	if g != nil {
		tx.opened.name, tx.opened.bucket = group, g
	}
	return g
}

// groups returns the root bucket of groups, opened once per transaction.
func (tx *Tx) groups() *bucket {
	if tx.groupsRoot == nil {
		tx.groupsRoot = tx.root(bucketGroups)
	}
	return tx.groupsRoot
}

// readSub returns a sub-bucket of the group's, or nil.
func (tx *Tx) readSub(group string, name []byte) *bucket {
	g := tx.readGroup(group)
	if g == nil {
		return nil
	}
	return g.Bucket(name)
}

// writeGroup returns the group's bucket with all its sub-buckets, creating
// what is missing, so writers need no existence checks.
func (tx *Tx) writeGroup(group string) (*bucket, error) {
	if group == "" {
		return nil, errEmptyGroupName
	}
	g := tx.opened.bucket
	if g == nil || tx.opened.name != group {
		groups := tx.groups()
		if groups == nil {
			return nil, fmt.Errorf("bucket %s is missing", bucketGroups)
		}
		var err error
		if g, err = groups.CreateBucketIfNotExists([]byte(group)); err != nil {
			return nil, fmt.Errorf("create group %s: %w", group, err)
		}
		tx.opened.name, tx.opened.bucket = group, g
	}
	if tx.whole[group] {
		return g, nil
	}
	if tx.whole == nil {
		tx.whole = map[string]bool{}
	}
	// One pass over the group's keys finds its sub-buckets, which every
	// write but a group's first finds all there, without opening each.
	have := 0
	if err := g.ForEachBucket(func(k []byte) error {
		if slices.ContainsFunc(groupSubBuckets, func(n []byte) bool { return bytes.Equal(n, k) }) {
			have++
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list buckets of group %s: %w", group, err)
	}
	if have < len(groupSubBuckets) {
		for _, name := range groupSubBuckets {
			if _, err := g.CreateBucketIfNotExists(name); err != nil {
				return nil, fmt.Errorf("create bucket %s of group %s: %w", name, group, err)
			}
		}
	}
	tx.whole[group] = true
	return g, nil
}

// oldestKeys returns up to n keys of b from the first, in order. Keys are
// collected before deleting because a bbolt cursor skips an entry after a
// delete.
func oldestKeys(b *bucket, n int) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < n; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

func countKeys(b *bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func deleteKeys(b *bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
