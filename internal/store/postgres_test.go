package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

var databases atomic.Int64

// database makes an empty database on the package's PostgreSQL and returns
// its connection string.
func database(t testing.TB) string {
	t.Helper()
	srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	dsn, err := srv.Database(fmt.Sprintf("store_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// replicaOn opens a replica of the store in database dsn.
func replicaOn(t testing.TB, dsn, id string, tune ...func(*PostgresOptions)) *Store {
	t.Helper()
	po := PostgresOptions{DSN: func() (string, error) { return dsn, nil }, ID: id, Addr: "http://" + id, Lease: 5 * time.Second}
	for _, f := range tune {
		f(&po)
	}
	s, err := OpenPostgres(t.Context(), po, Options{})
	if err != nil {
		t.Fatalf("OpenPostgres %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close %s: %v", id, err)
		}
	})
	return s
}

// lead makes s the leader, which it must be able to become at once.
func lead(t testing.TB, s *Store) {
	t.Helper()
	ok, err := s.repl.try(t.Context(), s, takeExpired, nil)
	if err != nil || !ok {
		t.Fatalf("%s did not take the lead: %v (leader %+v)", s.repl.opt.ID, err, s.Leader())
	}
}

// follow brings a follower's copy up to date, as one campaign tick does.
func follow(t testing.TB, s *Store) {
	t.Helper()
	if ok, err := s.repl.try(t.Context(), s, takeExpired, nil); err != nil || ok {
		t.Fatalf("%s follow: took the lead %v, err %v", s.repl.opt.ID, ok, err)
	}
}

// dump lists every bucket (with its sequence) and value of a store's
// local copy, meta left out, one line each.
func dump(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	var walk func(path string, b *bolt.Bucket)
	walk = func(path string, b *bolt.Bucket) {
		out = append(out, fmt.Sprintf("%s/ seq=%d", path, b.Sequence()))
		b.ForEach(func(k, v []byte) error {
			if v == nil && b.Bucket(k) != nil {
				walk(path+"/"+string(k), b.Bucket(k))
				return nil
			}
			out = append(out, fmt.Sprintf("%s/%q=%q", path, k, v))
			return nil
		})
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) != string(bucketMeta) {
				walk(string(name), b)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameCopies(t *testing.T, what string, a, b *Store) {
	t.Helper()
	da, db := dump(t, a), dump(t, b)
	if !slices.Equal(da, db) {
		for i := range max(len(da), len(db)) {
			var x, y string
			if i < len(da) {
				x = da[i]
			}
			if i < len(db) {
				y = db[i]
			}
			if x != y {
				t.Fatalf("%s: copies differ at line %d of %d/%d:\n  %s: %s\n  %s: %s", what, i, len(da), len(db),
					a.repl.opt.ID, x, b.repl.opt.ID, y)
			}
		}
	}
}

// randomWrites makes n seeded random changes of every kind the daemon
// makes, in transactions of one to five, pruning included (a small
// journal, a short signal history), so buckets are created, emptied and
// dropped.
func randomWrites(t *testing.T, s *Store, rng *rand.Rand, n int, now *time.Time) {
	t.Helper()
	groups := []string{"web", "workers", "trino"}
	for i := 0; i < n; {
		err := s.Update(func(tx *Tx) error {
			for range 1 + rng.IntN(5) {
				i++
				g := groups[rng.IntN(len(groups))]
				*now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
				var err error
				switch rng.IntN(7) {
				case 0:
					err = tx.PutGroupState(g, GroupState{Desired: rng.IntN(10), LastScale: *now})
				case 1:
					err = tx.PutInstance(model.Instance{Group: g, ID: fmt.Sprintf("i-%d", rng.IntN(6)), LaunchedAt: *now})
				case 2:
					err = tx.DeleteInstance(g, fmt.Sprintf("i-%d", rng.IntN(6)))
				case 3:
					_, err = tx.AddIntent(Intent{Group: g, Instance: fmt.Sprintf("i-%d", rng.IntN(6)), Kind: IntentDrain, Created: *now})
				case 4:
					open, oerr := tx.OpenIntents(g)
					if oerr != nil || len(open) == 0 {
						return oerr
					}
					err = tx.FinishIntent(open[rng.IntN(len(open))].Seq, *now, "done")
				case 5:
					_, err = tx.AppendDecision(g, *now, json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)))
				case 6:
					err = tx.AppendSamples(g, *now, map[string]float64{fmt.Sprintf("s%d", rng.IntN(3)): rng.Float64()})
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// A follower's copy, applied change by change from the log, and a copy
// loaded afresh from the tables both equal the leader's, byte for byte,
// through a few hundred random writes.
func TestPostgresCopiesAgree(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.LogKeep = 1000 })
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	opt := Options{JournalMax: 5, SignalAge: 10 * time.Minute, SignalMax: 5}
	leader.opt, follower.opt = opt, opt
	rng := rand.New(rand.NewPCG(7, 7))
	now := t0
	for round := range 8 {
		randomWrites(t, leader, rng, 60, &now)
		follow(t, follower)
		sameCopies(t, fmt.Sprintf("round %d, follower", round), leader, follower)
	}
	fresh := replicaOn(t, dsn, "c")
	sameCopies(t, "fresh load", leader, fresh)
	if got := follower.Leader(); got.ID != "a" || got.Addr != "http://a" || got.Self || got.Epoch != 1 {
		t.Errorf("follower sees leader %+v; want a at http://a, epoch 1", got)
	}
	if got := leader.Leader(); !got.Self || got.Epoch != 1 {
		t.Errorf("leader sees %+v; want itself, epoch 1", got)
	}
}

// A follower that fell further behind than the log reaches loads the
// whole state again.
func TestPostgresFollowerBehindTheLogReloads(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.LogKeep = 3 })
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	randomWrites(t, leader, rng, 100, &now)
	var kept int
	if err := leader.repl.pool.QueryRow(t.Context(), `SELECT count(*) FROM ebb_log`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept > 3+100 || follower.repl.applied != 0 {
		t.Fatalf("log holds %d changes, follower applied %d; want the log pruned and the follower behind it", kept, follower.repl.applied)
	}
	follow(t, follower)
	sameCopies(t, "after reload", leader, follower)
	if follower.repl.applied != leader.repl.applied {
		t.Errorf("follower at version %d, leader at %d", follower.repl.applied, leader.repl.applied)
	}
}

// Only the leader writes; a replica whose lease another has taken is
// fenced: its write changes nothing, in the database or its copy, and it
// has lost the lead for good.
func TestPostgresFencing(t *testing.T) {
	dsn := database(t)
	a := replicaOn(t, dsn, "a")
	b := replicaOn(t, dsn, "b")
	put := func(s *Store, n int) error {
		return s.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: n}) })
	}
	if err := put(b, 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower's write: %v; want ErrNotLeader", err)
	}
	lead(t, a)
	follow(t, b) // a leads: b cannot take the lease
	if err := put(a, 2); err != nil {
		t.Fatal(err)
	}
	// a is paused past its lease (the database's clock moves; a's own
	// check of its lease is what a resumed process would also fail, so it
	// is kept valid here to show the fence alone refuses the write).
	if _, err := a.repl.pool.Exec(t.Context(), `UPDATE ebb_leader SET expires = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	lead(t, b)
	if got := b.Leader(); got.Epoch != 2 || got.ID != "b" {
		t.Fatalf("b leads with %+v; want epoch 2", got)
	}
	err := put(a, 99)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("the deposed leader's write: %v; want ErrFenced", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Fatal("a's Lost is not closed after its write was fenced")
	}
	if err := put(a, 100); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a writes again: %v; want ErrNotLeader", err)
	}
	var st GroupState
	mustView(t, a, func(tx *Tx) error { st, _, err = tx.GroupState("web"); return err })
	if st.Desired != 2 {
		t.Errorf("a's copy holds desired %d after the fenced write; want 2", st.Desired)
	}
	if err := put(b, 3); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	fresh := replicaOn(t, dsn, "c")
	mustView(t, fresh, func(tx *Tx) error { st, _, err = tx.GroupState("web"); return err })
	if st.Desired != 3 {
		t.Errorf("the database holds desired %d; want 3", st.Desired)
	}
}

// A leader that could not renew its lease in time writes nothing, even
// before anyone else takes it over.
func TestPostgresExpiredLeaseRefusesWrites(t *testing.T) {
	a := replicaOn(t, database(t), "a")
	if err := a.Leading(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Leading before the campaign: %v; want ErrNotLeader", err)
	}
	lead(t, a)
	if err := a.Leading(); err != nil {
		t.Fatalf("Leading once it leads: %v", err)
	}
	a.repl.lmu.Lock()
	a.repl.setValid(time.Now().Add(-time.Millisecond))
	a.repl.lmu.Unlock()
	if err := a.Leading(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Leading past the lease: %v; want ErrNotLeader", err)
	}
	err := a.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 1}) })
	if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "not renewed in time") {
		t.Fatalf("write past the lease: %v; want ErrNotLeader, not renewed in time", err)
	}
}

// A leader that resigns (ebb stopping) hands over at once: the next
// replica's campaign takes the lease without waiting for it to run out.
func TestPostgresResignHandsOver(t *testing.T) {
	dsn := database(t)
	a := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.Lease = time.Hour })
	b := replicaOn(t, dsn, "b")
	lead(t, a)
	follow(t, b)
	a.repl.resign()
	lead(t, b)
	if got := b.Leader(); got.Epoch != 2 || !got.Self {
		t.Errorf("b after a resigned: %+v; want epoch 2, self", got)
	}
}

// The renewal loop keeps the lease: a campaign by another replica keeps
// failing while the leader renews, over several lease lengths.
func TestPostgresRenewKeepsTheLease(t *testing.T) {
	dsn := database(t)
	a := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.Lease = time.Second })
	b := replicaOn(t, dsn, "b", func(o *PostgresOptions) { o.Lease = time.Second })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := a.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
	defer bcancel()
	if err := b.Campaign(bctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b's campaign while a renews: %v; want it still campaigning at its deadline", err)
	}
	if err := a.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 4}) }); err != nil {
		t.Fatalf("a's write after 3 lease lengths: %v", err)
	}
	if got := b.Leader(); got.ID != "a" || got.Expired {
		t.Errorf("b sees %+v; want a leading", got)
	}
}

// Replicas on one database agree on its schema: a newer one is refused.
func TestPostgresRefusesANewerSchema(t *testing.T) {
	dsn := database(t)
	replicaOn(t, dsn, "a")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `UPDATE ebb_meta SET value = 99 WHERE key = 'schema'`); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPostgres(t.Context(), PostgresOptions{DSN: func() (string, error) { return dsn, nil }}, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("open over schema 99: %v", err)
	}
}

// fakeTerm is an Elector's term the test ends by hand.
type fakeTerm struct {
	lost     chan struct{}
	valid    atomic.Bool
	resigned atomic.Bool
}

func (f *fakeTerm) Lost() <-chan struct{} { return f.lost }
func (f *fakeTerm) Valid() bool           { return f.valid.Load() }
func (f *fakeTerm) Resign()               { f.resigned.Store(true) }

// fakeElector makes its replica leader when the test sends it a term.
type fakeElector chan *fakeTerm

func (e fakeElector) Elect(ctx context.Context) (Term, error) {
	select {
	case t := <-e:
		return t, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newTerm() *fakeTerm {
	t := &fakeTerm{lost: make(chan struct{})}
	t.valid.Store(true)
	return t
}

// With an Elector (a Kubernetes Lease), the replica it chooses leads and
// takes the database's fence; when its term ends, it writes nothing more,
// and the next one chosen leads with a higher epoch, even though the lease
// row never ran out.
func TestPostgresElectorChoosesAndTheDatabaseFences(t *testing.T) {
	dsn := database(t)
	ea, eb := make(fakeElector, 1), make(fakeElector, 1)
	a := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.Elector = ea })
	b := replicaOn(t, dsn, "b", func(o *PostgresOptions) { o.Elector = eb })
	put := func(s *Store, n int) error {
		return s.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: n}) })
	}
	ta := newTerm()
	ea <- ta
	if err := a.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := put(a, 1); err != nil {
		t.Fatalf("a leads by its term: %v", err)
	}
	ta.valid.Store(false) // a was paused past its term
	if err := a.Leading(); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Leading with a term run out: %v; want ErrNotLeader", err)
	}
	if err := put(a, 2); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a writes with its term run out: %v; want ErrNotLeader", err)
	}
	ta.valid.Store(true) // it does not know yet: the fence still refuses
	eb <- newTerm()
	if err := b.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.Leader(); got.Epoch != 2 || !got.Self {
		t.Fatalf("b leads with %+v; want epoch 2", got)
	}
	if err := put(a, 3); !errors.Is(err, ErrFenced) {
		t.Errorf("a writes after b took over: %v; want ErrFenced", err)
	}
	if err := put(b, 4); err != nil {
		t.Fatal(err)
	}
	close(ta.lost) // a's elector says so too: nothing changes
	b.repl.resign()
	if !b.repl.term.(*fakeTerm).resigned.Load() {
		t.Error("b resigned from the store but not from its term")
	}
}

// A follower far behind catches up in batches bounded by bytes, not all at
// once, and ends equal to the leader.
func TestPostgresCatchUpInBatches(t *testing.T) {
	defer func(n int) { catchUpBytes = n }(catchUpBytes)
	catchUpBytes = 1 // one change a batch
	dsn := database(t)
	leader := replicaOn(t, dsn, "a")
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	now := t0
	randomWrites(t, leader, rand.New(rand.NewPCG(3, 4)), 40, &now)
	follow(t, follower)
	sameCopies(t, "after batched catch-up", leader, follower)
	if follower.repl.applied != leader.repl.applied {
		t.Errorf("follower at version %d, leader at %d", follower.repl.applied, leader.repl.applied)
	}
	if got, want := follower.repl.batches, int(leader.repl.applied); got != want {
		t.Errorf("caught up %d changes in %d batches; want one a batch", want, got)
	}
}

// The log keeps at most LogBytes of changes, the newest, whatever LogKeep
// allows.
func TestPostgresLogKeepsItsBytes(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a", func(o *PostgresOptions) { o.LogKeep = 5; o.LogBytes = 2000 })
	lead(t, leader)
	for i := range 20 {
		err := leader.Update(func(tx *Tx) error {
			_, err := tx.AppendDecision("web", t0.Add(time.Duration(i)*time.Second), json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 600))))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	var bytes int64
	if err := leader.repl.pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(length(changes)), 0) FROM ebb_log`).Scan(&rows, &bytes); err != nil {
		t.Fatal(err)
	}
	if bytes > 2000 || rows == 0 {
		t.Errorf("the log holds %d changes of %d bytes; want at most 2000 bytes, and the newest kept", rows, bytes)
	}
	var newest int64
	leader.repl.pool.QueryRow(t.Context(), `SELECT max(version) FROM ebb_log`).Scan(&newest)
	if newest != 20 {
		t.Errorf("the newest change in the log is %d; want 20", newest)
	}
}

// Version moves when a replica's copy changes, its own write or one it
// followed, and stays when nothing did: a follower's API reads again only
// then.
func TestPostgresVersion(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a")
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	lv, fv := leader.Version(), follower.Version()
	if err := leader.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 3}) }); err != nil {
		t.Fatal(err)
	}
	if leader.Version() == lv {
		t.Error("the leader's Version did not move with its write")
	}
	follow(t, follower)
	if v := follower.Version(); v == fv {
		t.Error("the follower's Version did not move with the change it followed")
	} else {
		follow(t, follower)
		if follower.Version() != v {
			t.Error("the follower's Version moved with nothing to follow")
		}
	}
}

// Foreign moves only when a replica's copy takes in a change its own
// Update did not make: a leader's own writes leave it, a follower's
// catch-up moves it. A file store's never moves.
func TestPostgresForeign(t *testing.T) {
	dsn := database(t)
	leader := replicaOn(t, dsn, "a")
	follower := replicaOn(t, dsn, "b")
	lead(t, leader)
	lf, ff := leader.Foreign(), follower.Foreign()
	put := model.Instance{ID: "web-1", Group: "web", State: model.Launching, LaunchedAt: t0, StateSince: t0}
	if err := leader.Update(func(tx *Tx) error { return tx.PutInstance(put) }); err != nil {
		t.Fatal(err)
	}
	if leader.Foreign() != lf {
		t.Error("the leader's Foreign moved with its own write")
	}
	follow(t, follower)
	if follower.Foreign() == ff {
		t.Error("the follower's Foreign did not move with the change it followed")
	}
	// The group's StateVersion moves with the leader's write of its state,
	// and with the follower's catch-up that brings it.
	lv, fv := leader.StateVersion("web"), follower.StateVersion("web")
	if err := leader.Update(func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 3}) }); err != nil {
		t.Fatal(err)
	}
	if leader.StateVersion("web") == lv {
		t.Error("the leader's StateVersion did not move with its write of the state")
	}
	follow(t, follower)
	if follower.StateVersion("web") == fv {
		t.Error("the follower's StateVersion did not move with the state it followed")
	}

	file := openTemp(t, Options{})
	if err := file.Update(func(tx *Tx) error { return tx.PutInstance(put) }); err != nil {
		t.Fatal(err)
	}
	if file.Foreign() != 0 {
		t.Errorf("a file store's Foreign is %d", file.Foreign())
	}
}
