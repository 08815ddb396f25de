package store

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	bolt "go.etcd.io/bbolt"
)

// A store on PostgreSQL is for several ebb replicas sharing one state:
// one leads and writes, the others follow and serve reads.
//
// Each replica keeps a local copy of the state in a bbolt file (a cache:
// reads never leave the machine) and the same Tx code runs on it. A
// leader's Update records what its transaction changed (bucket.go) and,
// before the local commit, writes that to PostgreSQL in one transaction,
// fenced by the leader's epoch: the tables hold the state itself (ebb_kv,
// ebb_buckets) and a log of every committed change (ebb_log) that
// followers apply to their copies. A replica that becomes leader has
// applied the whole log first, so it starts from exactly what the last
// leader committed, and resumes the intents open in it.
//
// Tables (schema version 1):
//
//	ebb_meta(key, value)              schema version
//	ebb_leader(id=1, holder, addr,    the lease, and the fence: epoch grows
//	           epoch, version,        at each new leader; version counts
//	           expires, since)        committed changes, gapless
//	ebb_buckets(path, seq)            every bucket, with its sequence
//	ebb_kv(path, key, value)          every value
//	ebb_log(version, changes)         recent changes, for followers
//
// A path is the bucket names from the root joined by a NUL byte.

// PostgresSchemaVersion is the table layout this ebb writes.
const PostgresSchemaVersion = 1

// Errors of a replicated store.
var (
	// ErrNotLeader is returned by Update on a replica that does not lead,
	// or whose lease may have run out (it could not renew it in time).
	ErrNotLeader = errors.New("this ebb is not the leader")
	// ErrFenced is returned by Update when another replica has become
	// leader since this one was: the write is refused, and this replica
	// has lost the lead for good.
	ErrFenced = errors.New("fenced: another ebb has become the leader")
)

// Defaults for zero PostgresOptions fields.
const (
	DefaultLease       = 10 * time.Second
	DefaultCallTimeout = 10 * time.Second
	// DefaultLogKeep is how many changes the log keeps behind the
	// newest: a follower further behind reloads the whole state.
	DefaultLogKeep = 10_000
	// DefaultLogBytes bounds the log's size as well: a tick of 10,000
	// groups is about 8 MB of changes.
	DefaultLogBytes = 256 << 20
)

// PostgresOptions say how to reach the database and how this replica
// takes part in the election.
type PostgresOptions struct {
	// DSN returns the connection string; it is called for each new
	// connection, so a rotated password is picked up.
	DSN func() (string, error)
	// ID names this replica in the lease; default host-pid.
	ID string
	// Addr is where other replicas and clients reach this replica's API
	// (http://host:port), recorded in the lease while it leads.
	Addr string
	// Lease is how long the lead lasts without renewal; it is renewed
	// every third of it. A dead leader is replaced within about Lease.
	// Default 10s.
	Lease time.Duration
	// Timeout bounds each call to the database; default 10s.
	Timeout time.Duration
	// LogKeep is how many changes the log keeps; default DefaultLogKeep.
	LogKeep int
	// LogBytes is how many bytes of changes the log keeps at most, the
	// newest first; default DefaultLogBytes.
	LogBytes int64
	// Elector, when set, elects the leader instead of the lease row (a
	// Kubernetes Lease); the row then only fences.
	Elector Elector
	// Log hears what goes wrong while following; nil: nothing is logged.
	Log *slog.Logger
	// Cache is the directory for the local copy; default a new temporary
	// directory, removed at Close.
	Cache string
}

// replica is a store's link to PostgreSQL.
type replica struct {
	pool   *pgxpool.Pool
	opt    PostgresOptions
	where  string // host/db, for messages
	tmpDir string // removed at Close

	// mu serializes what changes the local copy and what writes to the
	// database: a leader's updates, a follower's catching up.
	mu      sync.Mutex
	applied uint64        // the log version the local copy holds
	batches int           // catch-up transactions applied, for tests
	dirty   bool          // a change may be in PostgreSQL and not here
	version atomic.Uint64 // grows with every change to the local copy, for Store.Version
	// foreign grows once a change not made by this process's Update is in
	// the local copy (a reload, a catch-up), for Store.Foreign.
	foreign atomic.Uint64

	// lmu guards the lead, held only for moments, never across a call to
	// the database: renewing the lease never waits behind a slow write.
	lmu      sync.Mutex
	epoch    uint64                    // this replica's term while it leads; 0 otherwise
	valid    time.Time                 // the lease is ours until then (monotonic)
	deadline atomic.Pointer[time.Time] // valid, for Leading, which takes no lock
	term     Term                      // an Elector's, while it leads by one
	termOf   atomic.Pointer[Term]      // term, for Leading
	lost     chan struct{}
	leader   Leader
}

// Leader is who leads, as a replica last read it.
type Leader struct {
	ID    string    `json:"id"`
	Addr  string    `json:"addr,omitempty"`
	Epoch uint64    `json:"epoch"`
	Since time.Time `json:"since,omitzero"`
	// Self is whether the replica reading is the leader.
	Self bool `json:"self"`
	// Expired is whether the lease ran out and no one has taken it yet.
	Expired bool `json:"expired,omitempty"`
	// Starting is whether the replica reading won the lead but does not
	// act on it yet (its leading daemon is being built): a change sent to
	// it now would reach no one, so it is refused, to be retried.
	Starting bool `json:"starting,omitempty"`
}

// OpenPostgres connects to the database, creates or checks its tables,
// and loads the state into a local copy. The replica follows until
// Campaign makes it leader.
func OpenPostgres(ctx context.Context, po PostgresOptions, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if po.DSN == nil {
		return nil, errors.New("open store: no PostgreSQL connection string")
	}
	if po.Lease == 0 {
		po.Lease = DefaultLease
	}
	if po.Timeout == 0 {
		po.Timeout = DefaultCallTimeout
	}
	if po.LogBytes == 0 {
		po.LogBytes = DefaultLogBytes
	}
	if po.LogKeep == 0 {
		po.LogKeep = DefaultLogKeep
	}
	if po.Lease < time.Second || po.Timeout < 0 {
		return nil, fmt.Errorf("open store: lease %s must be ≥ 1s and timeout %s ≥ 0", po.Lease, po.Timeout)
	}
	if po.ID == "" {
		host, _ := os.Hostname()
		po.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	dsn, err := po.DSN()
	if err != nil {
		return nil, fmt.Errorf("open store: PostgreSQL connection string: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error may quote the string, password and all.
		return nil, errors.New("open store: the PostgreSQL connection string does not parse")
	}
	cfg.MaxConns, cfg.MinConns = 4, 0
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = po.Timeout
	}
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		dsn, err := po.DSN()
		if err != nil {
			return err
		}
		fresh, err := pgx.ParseConfig(dsn)
		if err != nil {
			return errors.New("the PostgreSQL connection string does not parse")
		}
		cc.Password = fresh.Password
		return nil
	}
	r := &replica{opt: po, where: where(cfg.ConnConfig), lost: make(chan struct{})}
	if r.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open store on %s: %w", r.where, err)
	}
	s, err := r.open(ctx, opt)
	if err != nil {
		r.pool.Close()
		if r.tmpDir != "" {
			os.RemoveAll(r.tmpDir)
		}
		return nil, err
	}
	return s, nil
}

func where(cc *pgx.ConnConfig) string {
	return (&url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Path: "/" + cc.Database}).String()
}

// schema creates the tables; it runs under an advisory lock so that
// replicas starting together do not race.
const schema = `
SELECT pg_advisory_xact_lock(7351092);
CREATE TABLE IF NOT EXISTS ebb_meta (key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS ebb_leader (
	id int PRIMARY KEY CHECK (id = 1),
	holder text NOT NULL, addr text NOT NULL,
	epoch bigint NOT NULL, version bigint NOT NULL,
	expires timestamptz NOT NULL, since timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ebb_buckets (path bytea PRIMARY KEY, seq bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS ebb_kv (path bytea NOT NULL, key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (path, key));
CREATE TABLE IF NOT EXISTS ebb_log (version bigint PRIMARY KEY, changes bytea NOT NULL);
INSERT INTO ebb_leader VALUES (1, '', '', 0, 0, '-infinity', '-infinity') ON CONFLICT DO NOTHING;
INSERT INTO ebb_meta VALUES ('schema', 1) ON CONFLICT DO NOTHING;
`

func (r *replica) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.opt.Timeout)
}

func (r *replica) open(ctx context.Context, opt Options) (*Store, error) {
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	err := pgx.BeginFunc(cctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(cctx, schema); err != nil {
			return err
		}
		var v int64
		if err := tx.QueryRow(cctx, `SELECT value FROM ebb_meta WHERE key = 'schema'`).Scan(&v); err != nil {
			return err
		}
		if v > PostgresSchemaVersion {
			return fmt.Errorf("its tables have schema version %d; this ebb understands up to %d", v, PostgresSchemaVersion)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open store on %s: %w", r.where, err)
	}
	dir := r.opt.Cache
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ebb-cache-"); err != nil {
			return nil, fmt.Errorf("open store: local copy: %w", err)
		}
		r.tmpDir = dir
	}
	path := filepath.Join(dir, "ebb-cache.db")
	// The copy is rebuilt from the database at each start: whatever an
	// earlier process left is not trusted.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open store: local copy: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opt.Timeout, NoSync: true, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, InitialMmapSize: initialMmap,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: local copy %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return upgrade(tx, path) }); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, path: r.where, opt: opt, repl: r, dec: newDecodeCache()}
	if err := r.reload(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// reload replaces the local copy's state with the database's, in one local
// transaction (readers see the old state or the new one).
func (r *replica) reload(ctx context.Context, db *bolt.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*r.opt.Timeout)
	defer cancel()
	var version uint64
	err := db.Update(func(btx *bolt.Tx) error {
		for _, name := range [][]byte{bucketGroups, bucketIntentGroups, bucketRegistry} {
			if err := btx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
			if _, err := btx.CreateBucket(name); err != nil {
				return err
			}
		}
		// One snapshot of the database: the state and its version agree.
		return pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT version FROM ebb_leader WHERE id = 1`).Scan(&version); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT path, seq FROM ebb_buckets ORDER BY path`)
			if err != nil {
				return err
			}
			var path []byte
			var seq int64
			if _, err := pgx.ForEachRow(rows, []any{&path, &seq}, func() error {
				b, err := create(btx, path)
				if err != nil {
					return err
				}
				return b.SetSequence(uint64(seq))
			}); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `SELECT path, key, value FROM ebb_kv ORDER BY path, key`)
			if err != nil {
				return err
			}
			var key, value, at []byte
			var b *bolt.Bucket
			_, err = pgx.ForEachRow(rows, []any{&path, &key, &value}, func() error {
				if b == nil || !bytes.Equal(path, at) {
					if b = lookup(btx, path); b == nil {
						return fmt.Errorf("value under %q, a bucket that is not recorded", path)
					}
					at = bytes.Clone(path)
				}
				return b.Put(bytes.Clone(key), bytes.Clone(value))
			})
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("load the state from %s: %w", r.where, err)
	}
	r.applied, r.dirty = version, false
	r.version.Add(1)
	r.foreign.Add(1)
	return nil
}

// catchUpBytes bounds the changes a catch-up holds in memory at once.
var catchUpBytes = 64 << 20 // a variable for tests

var errEnough = errors.New("enough for one batch")

// catchUp applies to the local copy the changes committed since it was
// last brought up to date; r.mu held. Each read of the log is bounded by
// the call timeout; a reload, which reads the whole state, by its own
// longer one, so ctx should not carry the call timeout already.
func (r *replica) catchUp(ctx context.Context, db *bolt.DB) error {
	qctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	rows, err := r.pool.Query(qctx, `SELECT version, changes FROM ebb_log WHERE version > $1 ORDER BY version LIMIT 1000`, int64(r.applied))
	if err != nil {
		return fmt.Errorf("read changes from %s: %w", r.where, err)
	}
	type entry struct {
		v  uint64
		ch *changes
	}
	var entries []entry
	var v int64
	var blob []byte
	held, more := 0, false
	if _, err := pgx.ForEachRow(rows, []any{&v, &blob}, func() error {
		if held >= catchUpBytes {
			// Enough in memory at once (a tick of many groups is
			// megabytes): apply these, then read on.
			more = true
			return errEnough
		}
		held += len(blob)
		ch := &changes{}
		if err := gob.NewDecoder(bytes.NewReader(blob)).Decode(ch); err != nil {
			return fmt.Errorf("decode change %d: %w", v, err)
		}
		entries = append(entries, entry{uint64(v), ch})
		return nil
	}); err != nil && !errors.Is(err, errEnough) {
		return fmt.Errorf("read changes from %s: %w", r.where, err)
	}
	if len(entries) > 0 && entries[0].v != r.applied+1 {
		// The log no longer holds what this copy lacks.
		return r.reload(ctx, db)
	}
	if len(entries) == 0 {
		// Nothing newer in the log; yet the state may have moved past it
		// if the log was emptied by hand.
		var newest int64
		if err := r.pool.QueryRow(qctx, `SELECT version FROM ebb_leader WHERE id = 1`).Scan(&newest); err != nil {
			return fmt.Errorf("read changes from %s: %w", r.where, err)
		}
		if uint64(newest) > r.applied {
			return r.reload(ctx, db)
		}
		r.dirty = false
		return nil
	}
	err = db.Update(func(btx *bolt.Tx) error {
		for _, e := range entries {
			if err := e.ch.apply(btx); err != nil {
				return fmt.Errorf("apply change %d: %w", e.v, err)
			}
		}
		return nil
	})
	if err != nil {
		// The copy cannot follow: start it again from the database.
		return r.reload(ctx, db)
	}
	r.applied = entries[len(entries)-1].v
	r.version.Add(1)
	r.foreign.Add(1)
	r.batches++
	if more || len(entries) == 1000 {
		return r.catchUp(ctx, db)
	}
	r.dirty = false
	return nil
}

// update runs fn in a local write transaction and, if fn changed
// anything, commits the change to PostgreSQL under this replica's epoch
// before the local commit.
func (r *replica) update(s *Store, fn func(*Tx) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.leading(); err != nil {
		return err
	}
	if r.dirty {
		if err := r.catchUp(context.Background(), s.db); err != nil {
			return err
		}
	}
	var committed uint64
	var states []string
	defer func() { s.dec.statesWritten(states) }() // after the local commit
	err := s.db.Update(func(btx *bolt.Tx) error {
		ch := newChanges()
		tx := &Tx{btx: btx, opt: s.opt, ch: ch, dec: s.dec}
		err := fn(tx)
		states = tx.states
		if err != nil {
			return err
		}
		if ch.empty() {
			return nil
		}
		v, err := r.commit(ch)
		if err != nil {
			return err
		}
		committed = v
		return nil
	})
	switch {
	case err == nil && committed != 0:
		r.applied = committed
		r.version.Add(1)
	case err != nil && committed != 0:
		// In PostgreSQL, not here: the next write catches up first.
		r.dirty = true
	}
	return err
}

// leading is nil when this replica leads and its lease is certainly
// still its own.
func (r *replica) leading() error {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	select {
	case <-r.lost:
		return fmt.Errorf("%w (lost the lead)", ErrNotLeader)
	default:
	}
	if r.epoch == 0 {
		return ErrNotLeader
	}
	// Monotonic: a process paused past its lease sees the time pass.
	if !time.Now().Before(r.valid) {
		return fmt.Errorf("%w: its lease was not renewed in time", ErrNotLeader)
	}
	if r.term != nil && !r.term.Valid() {
		return fmt.Errorf("%w: its term may have run out", ErrNotLeader)
	}
	return nil
}

// currentEpoch is this replica's term, 0 unless it leads.
func (r *replica) currentEpoch() uint64 {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	return r.epoch
}

// commit writes one transaction's changes to PostgreSQL, fenced by the
// epoch, and returns their version.
func (r *replica) commit(ch *changes) (uint64, error) {
	var blob bytes.Buffer
	if err := gob.NewEncoder(&blob).Encode(ch); err != nil {
		return 0, fmt.Errorf("encode change: %w", err)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	var version int64
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// The fence: this row is locked until commit, so a new leader's
		// takeover (which raises epoch) waits for this transaction, and
		// once it is through, this replica's writes match no row.
		err := tx.QueryRow(ctx, `UPDATE ebb_leader SET version = version + 1 WHERE id = 1 AND epoch = $1 RETURNING version`,
			int64(r.currentEpoch())).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			r.fence()
			return ErrFenced
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, p := range ch.Dropped {
			lo, hi := append(bytes.Clone(p), pathSep), append(bytes.Clone(p), pathSep+1)
			b.Queue(`DELETE FROM ebb_kv WHERE path = $1 OR (path >= $2 AND path < $3)`, p, lo, hi)
			b.Queue(`DELETE FROM ebb_buckets WHERE path = $1 OR (path >= $2 AND path < $3)`, p, lo, hi)
		}
		if len(ch.Buckets) > 0 {
			paths, seqs := make([][]byte, 0, len(ch.Buckets)), make([]int64, 0, len(ch.Buckets))
			for p, s := range ch.Buckets {
				paths, seqs = append(paths, []byte(p)), append(seqs, s)
			}
			b.Queue(`INSERT INTO ebb_buckets (path, seq) SELECT p, greatest(s, 0) FROM unnest($1::bytea[], $2::int8[]) AS u(p, s)
				ON CONFLICT (path) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > 0`, paths, seqs)
		}
		var pp, pk, pv, dp, dk [][]byte
		for p, keys := range ch.Keys {
			for k, w := range keys {
				if w.Deleted {
					dp, dk = append(dp, []byte(p)), append(dk, []byte(k))
				} else {
					v := w.Value
					if v == nil {
						v = []byte{} // NULL is not an empty value
					}
					pp, pk, pv = append(pp, []byte(p)), append(pk, []byte(k)), append(pv, v)
				}
			}
		}
		if len(pp) > 0 {
			b.Queue(`INSERT INTO ebb_kv (path, key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])
				ON CONFLICT (path, key) DO UPDATE SET value = excluded.value`, pp, pk, pv)
		}
		if len(dp) > 0 {
			b.Queue(`DELETE FROM ebb_kv USING unnest($1::bytea[], $2::bytea[]) AS d(p, k) WHERE ebb_kv.path = d.p AND ebb_kv.key = d.k`, dp, dk)
		}
		b.Queue(`INSERT INTO ebb_log (version, changes) VALUES ($1, $2)`, version, blob.Bytes())
		if keep := int64(r.opt.LogKeep); version%max(1, min(100, keep)) == 0 {
			b.Queue(`DELETE FROM ebb_log WHERE version <= $1`, version-keep)
			// And the oldest beyond LogBytes, counted from the newest.
			b.Queue(`DELETE FROM ebb_log WHERE version <= (
				SELECT max(version) FROM (
					SELECT version, sum(length(changes)) OVER (ORDER BY version DESC) AS newer FROM ebb_log) AS l
				WHERE newer > $1)`, r.opt.LogBytes)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		if errors.Is(err, ErrFenced) {
			return 0, fmt.Errorf("write to %s: %w", r.where, err)
		}
		// The commit may have happened: catch up before the next write.
		r.dirty = true
		return 0, fmt.Errorf("write to %s: %w", r.where, err)
	}
	return uint64(version), nil
}

// fence gives up the lead for good.
func (r *replica) fence() {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.epoch = 0
	r.leader.Self = false
	select {
	case <-r.lost:
	default:
		close(r.lost)
	}
}
