package store

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// link is a TCP relay on loopback between replicas and PostgreSQL that a
// test cuts, as a network partition or a database going away would: open
// connections are closed and new ones are accepted and closed at once,
// until it is restored.
type link struct {
	ln    net.Listener
	to    string // PostgreSQL's host:port
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(t *testing.T, dsn string) *link {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, to: u.Host, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.serve()
	t.Cleanup(func() {
		ln.Close()
		l.cut()
		l.wg.Wait()
	})
	return l
}

// dsn is dsn with PostgreSQL's address replaced by the link's.
func (l *link) dsn(dsn string) string {
	u, _ := url.Parse(dsn)
	u.Host = l.ln.Addr().String()
	return u.String()
}

func (l *link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.down {
			l.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", l.to)
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c], l.conns[up] = struct{}{}, struct{}{}
		l.wg.Add(2)
		l.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer l.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every connection through the link and refuses new ones.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.Close()
		delete(l.conns, c)
	}
}

func (l *link) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
}

// versions returns the log's versions, in order.
func versions(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.repl.pool.Query(t.Context(), `SELECT version FROM ebb_log ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// gapless fails unless the log holds versions 1 to want, each once.
func gapless(t *testing.T, s *Store, want int) {
	t.Helper()
	vs := versions(t, s)
	for i, v := range vs {
		if v != int64(i+1) {
			t.Fatalf("log versions %v…: version %d at position %d; want 1 to %d with no gap", vs[:min(len(vs), 20)], v, i, want)
		}
	}
	if len(vs) != want {
		t.Fatalf("log holds %d versions; want %d", len(vs), want)
	}
}

// followAfterOutage follows once the database is back. Each connection
// the pool kept from before fails once, when next used (a connection idle
// under a second is not pinged first), so it may take a try per pooled
// connection, and no more.
func followAfterOutage(t *testing.T, s *Store) {
	t.Helper()
	var err error
	for range int(s.repl.pool.Config().MaxConns) + 1 {
		var ok bool
		if ok, err = s.repl.try(t.Context(), s, takeExpired, nil); ok {
			t.Fatalf("%s took the lead", s.repl.opt.ID)
		}
		if err == nil {
			return
		}
	}
	t.Fatalf("%s still cannot follow with the database back: %v", s.repl.opt.ID, err)
}

func desired(t *testing.T, s *Store, group string) int {
	t.Helper()
	var st GroupState
	mustView(t, s, func(tx *Tx) error {
		var err error
		st, _, err = tx.GroupState(group)
		return err
	})
	return st.Desired
}

func putDesired(s *Store, group string, n int) error {
	return s.Update(func(tx *Tx) error { return tx.PutGroupState(group, GroupState{Desired: n}) })
}

func longLease(o *PostgresOptions) { o.Lease = time.Hour }

// A leader whose database goes away (the network to it cut, or the
// database closed to connections and its sessions ended) refuses writes
// and keeps its copy as it was; when the database is back, it writes
// again without campaigning, and every copy agrees.
func TestPostgresLeaderLosesTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		name string
		away func(t *testing.T, dsn string, l *link) (back func())
	}{
		{name: "network cut", away: func(t *testing.T, _ string, l *link) func() {
			l.cut()
			return l.restore
		}},
		{name: "database closed", away: func(t *testing.T, dsn string, _ *link) func() {
			srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
			admin, err := pgx.Connect(t.Context(), srv.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { admin.Close(context.Background()) })
			u, _ := url.Parse(dsn)
			db := pgx.Identifier{u.Path[1:]}.Sanitize()
			if _, err := admin.Exec(t.Context(), `ALTER DATABASE `+db+` WITH ALLOW_CONNECTIONS false`); err != nil {
				t.Fatal(err)
			}
			var ended int
			if err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`,
				u.Path[1:]).Scan(&ended); err != nil {
				t.Fatal(err)
			}
			if ended == 0 {
				t.Fatal("no session of the replicas' to end")
			}
			return func() {
				if _, err := admin.Exec(t.Context(), `ALTER DATABASE `+db+` WITH ALLOW_CONNECTIONS true`); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := database(t)
			l := newLink(t, dsn)
			leader := replicaOn(t, l.dsn(dsn), "a", longLease)
			follower := replicaOn(t, dsn, "b")
			lead(t, leader)
			rng := rand.New(rand.NewPCG(3, 4))
			now := t0
			randomWrites(t, leader, rng, 40, &now)
			follow(t, follower)
			before := dump(t, leader)
			version := leader.repl.applied

			back := tc.away(t, dsn, l)
			for i := range 3 {
				err := putDesired(leader, "web", 70+i)
				if err == nil || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrFenced) {
					t.Fatalf("write %d with the database away: %v; want an error reaching it", i, err)
				}
			}
			if got := dump(t, leader); !slices.Equal(got, before) {
				t.Fatalf("the leader's copy changed while its writes failed: %d lines, was %d", len(got), len(before))
			}
			if leader.repl.applied != version {
				t.Fatalf("the leader's copy is at version %d; want %d", leader.repl.applied, version)
			}
			select {
			case <-leader.Lost():
				t.Fatal("the leader lost the lead over an outage shorter than its lease")
			default:
			}

			back()
			if err := putDesired(leader, "web", 80); err != nil {
				t.Fatalf("the first write with the database back: %v", err)
			}
			if got := desired(t, leader, "web"); got != 80 {
				t.Fatalf("the leader reads desired %d after writing 80", got)
			}
			randomWrites(t, leader, rng, 40, &now)
			followAfterOutage(t, follower)
			sameCopies(t, "follower after the outage", leader, follower)
			fresh := replicaOn(t, dsn, "c")
			sameCopies(t, "fresh load after the outage", leader, fresh)
			gapless(t, leader, int(leader.repl.applied))
		})
	}
}

// A change committed to PostgreSQL whose local commit then fails (here the
// local file may not grow: bbolt's MaxSize, as a full disk would) is
// neither lost nor made twice: the leader's next write first applies it
// from the log, so a sequence it assigned is not assigned again.
func TestPostgresLocalCommitFailsAfterPostgres(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", longLease)
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	decide := func(tx *Tx, n int) error {
		_, err := tx.AppendDecision("web", t0.Add(time.Duration(n)*time.Minute), json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)))
		return err
	}
	for n := 1; n <= 3; n++ {
		mustUpdate(t, leader, func(tx *Tx) error { return decide(tx, n) })
	}
	before := dump(t, leader)

	// Enough new groups that the local commit needs pages the file does
	// not have.
	leader.db.MaxSize = 1
	err := leader.Update(func(tx *Tx) error {
		for i := range 300 {
			if err := tx.PutGroupState(fmt.Sprintf("g-%03d", i), GroupState{Desired: i}); err != nil {
				return err
			}
		}
		return decide(tx, 4)
	})
	leader.db.MaxSize = 0
	if !errors.Is(err, berrors.ErrMaxSizeReached) {
		t.Fatalf("the write whose local commit fails: %v; want bbolt's max size reached", err)
	}
	if got := dump(t, leader); !slices.Equal(got, before) {
		t.Fatalf("the local copy changed though its commit failed")
	}
	if !leader.repl.dirty {
		t.Fatal("the leader is not marked behind PostgreSQL after its local commit failed")
	}
	gapless(t, leader, 4) // it is in PostgreSQL all the same

	mustUpdate(t, leader, func(tx *Tx) error { return decide(tx, 5) })
	var seqs []uint64
	var ns []int
	mustView(t, leader, func(tx *Tx) error {
		entries, err := tx.Decisions("web", 0)
		for _, e := range entries {
			var d struct{ N int }
			if err := json.Unmarshal(e.Decision, &d); err != nil {
				return err
			}
			seqs, ns = append(seqs, e.Seq), append(ns, d.N)
		}
		return err
	})
	if !slices.Equal(seqs, []uint64{5, 4, 3, 2, 1}) || !slices.Equal(ns, []int{5, 4, 3, 2, 1}) {
		t.Fatalf("journal seqs %v holding decisions %v, newest first; want 5 to 1 each once", seqs, ns)
	}
	if got := desired(t, leader, "g-299"); got != 299 {
		t.Fatalf("the leader's copy holds desired %d for g-299; want 299 from the change it caught up", got)
	}
	gapless(t, leader, 5)
	follow(t, follower)
	sameCopies(t, "follower", leader, follower)
	sameCopies(t, "fresh load", leader, replicaOn(t, dsn, "c"))
}

// A follower cut off from the database keeps serving its copy, as it was,
// and catches up when the database is back; the leader is not held up.
func TestPostgresFollowerCutOffServesItsCopy(t *testing.T) {
	dsn := database(t)
	l := newLink(t, dsn)
	leader := replicaOn(t, dsn, "a", longLease)
	follower := replicaOn(t, l.dsn(dsn), "b")
	lead(t, leader)
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0
	randomWrites(t, leader, rng, 40, &now)
	if err := putDesired(leader, "web", 4); err != nil {
		t.Fatal(err)
	}
	follow(t, follower)
	before := dump(t, follower)

	l.cut()
	randomWrites(t, leader, rng, 40, &now)
	if err := putDesired(leader, "web", 9); err != nil {
		t.Fatal(err)
	}
	if ok, err := follower.repl.try(t.Context(), follower, takeExpired, nil); ok || err == nil {
		t.Fatalf("follower cut off: took the lead %v, err %v; want an error reaching the database", ok, err)
	}
	if got := desired(t, follower, "web"); got != 4 {
		t.Fatalf("the cut-off follower reads desired %d; want 4, its copy's", got)
	}
	if got := dump(t, follower); !slices.Equal(got, before) {
		t.Fatal("the cut-off follower's copy changed")
	}
	if got := follower.Leader(); got.ID != "a" || got.Self {
		t.Fatalf("the cut-off follower sees leader %+v; want a, as last read", got)
	}

	l.restore()
	follow(t, follower)
	if got := desired(t, follower, "web"); got != 9 {
		t.Fatalf("the follower back reads desired %d; want 9", got)
	}
	sameCopies(t, "follower back", leader, follower)
}

// Updates from many goroutines at once commit one after another: the log
// is gapless and a follower following all along ends equal to the leader.
func TestPostgresConcurrentUpdates(t *testing.T) {
	const writers, writes = 8, 50
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", longLease)
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	groups := []string{"web", "workers", "trino"}

	ctx, stop := context.WithCancel(t.Context())
	var following sync.WaitGroup
	var followErr error
	following.Add(1)
	go func() {
		defer following.Done()
		for ctx.Err() == nil {
			if ok, err := follower.repl.try(ctx, follower, takeExpired, nil); ok || err != nil {
				if ctx.Err() == nil {
					followErr = fmt.Errorf("took the lead %v, err %v", ok, err)
				}
				return
			}
			if err := follower.View(func(tx *Tx) error { _, err := tx.Groups(); return err }); err != nil {
				followErr = err
				return
			}
		}
	}()

	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for i := range writes {
				g := groups[rng.IntN(len(groups))]
				at := t0.Add(time.Duration(w*writes+i) * time.Second)
				err := leader.Update(func(tx *Tx) error {
					if err := tx.PutGroupState(g, GroupState{Desired: rng.IntN(100), LastScale: at}); err != nil {
						return err
					}
					if _, err := tx.AppendDecision(g, at, json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))); err != nil {
						return err
					}
					return tx.AppendSamples(g, at, map[string]float64{fmt.Sprintf("w%d", w): float64(i)})
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stop()
	following.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if followErr != nil {
		t.Fatalf("following during the writes: %v", followErr)
	}
	if t.Failed() {
		t.FailNow()
	}
	gapless(t, leader, writers*writes)
	if leader.repl.applied != writers*writes {
		t.Fatalf("leader at version %d; want %d", leader.repl.applied, writers*writes)
	}
	var decisions int
	mustView(t, leader, func(tx *Tx) error {
		for _, g := range groups {
			entries, err := tx.Decisions(g, 0)
			if err != nil {
				return err
			}
			decisions += len(entries)
		}
		return nil
	})
	if decisions != writers*writes {
		t.Fatalf("journal holds %d decisions; want %d", decisions, writers*writes)
	}
	follow(t, follower)
	sameCopies(t, "follower after concurrent writes", leader, follower)
}

// A renewal still on its way when the leader resigned does not take the
// lease back: the next replica takes over at once.
func TestPostgresRenewalAfterResignKeepsTheHandOver(t *testing.T) {
	dsn := database(t)
	a := replicaOn(t, dsn, "a", longLease)
	b := replicaOn(t, dsn, "b")
	lead(t, a)
	epoch := a.repl.epoch
	a.repl.resign()
	// What renew does with the epoch it read before the resignation.
	kept, err := a.repl.extend(t.Context(), epoch)
	if err != nil {
		t.Fatal(err)
	}
	if kept {
		t.Error("a renewal after the resignation kept the lease")
	}
	lead(t, b)
	if got := b.Leader(); got.Epoch != epoch+1 || !got.Self {
		t.Errorf("b after a resigned: %+v; want epoch %d, self", got, epoch+1)
	}
}

// A follower that must reload the whole state has ten call timeouts for
// it, as at start, not one: a state that takes longer to read than a call
// timeout is still loaded. The database is made slow by holding a lock on
// the values' table for four timeouts.
func TestPostgresReloadHasItsOwnTimeout(t *testing.T) {
	const timeout = 250 * time.Millisecond
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", longLease, func(o *PostgresOptions) { o.LogKeep = 3 })
	follower := replicaOn(t, dsn, "b", func(o *PostgresOptions) { o.Timeout = timeout })
	lead(t, leader)
	rng := rand.New(rand.NewPCG(8, 9))
	now := t0
	randomWrites(t, leader, rng, 60, &now) // the log no longer reaches the follower's version

	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `LOCK TABLE ebb_kv IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		_, err := tx.Exec(t.Context(), `SELECT pg_sleep($1)`, (4 * timeout).Seconds())
		if err == nil {
			err = tx.Commit(t.Context())
		}
		released <- err
	}()
	ok, err := follower.repl.try(t.Context(), follower, takeExpired, nil)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if ok || err != nil {
		t.Fatalf("follower reloading through a slow database: took the lead %v, err %v; want it loaded", ok, err)
	}
	sameCopies(t, "follower after a slow reload", leader, follower)
}

// A change in the log holds the buckets a write created, not every one
// it opened: writing to a group that exists records its values alone.
func TestPostgresLogRecordsOnlyNewBuckets(t *testing.T) {
	leader := replicaOn(t, database(t), "a", longLease)
	lead(t, leader)
	last := func() *changes {
		t.Helper()
		var blob []byte
		if err := leader.repl.pool.QueryRow(t.Context(), `SELECT changes FROM ebb_log ORDER BY version DESC LIMIT 1`).Scan(&blob); err != nil {
			t.Fatal(err)
		}
		ch := &changes{}
		if err := gob.NewDecoder(bytes.NewReader(blob)).Decode(ch); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	if err := putDesired(leader, "web", 1); err != nil {
		t.Fatal(err)
	}
	if got := len(last().Buckets); got != 1+len(groupSubBuckets) {
		t.Fatalf("a new group's first write records %d buckets; want the group's and its %d", got, len(groupSubBuckets))
	}
	if err := putDesired(leader, "web", 2); err != nil {
		t.Fatal(err)
	}
	ch := last()
	if len(ch.Buckets) != 0 || len(ch.Dropped) != 0 {
		t.Errorf("a write to an existing group records buckets %q, dropped %q; want none", slices.Sorted(maps.Keys(ch.Buckets)), ch.Dropped)
	}
	if len(ch.Keys) != 1 || len(ch.Keys["groups\x00web"]) != 1 {
		t.Errorf("a write to an existing group records values %v; want the group's state alone", ch.Keys)
	}
}
