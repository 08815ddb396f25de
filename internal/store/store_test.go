package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		want    Options
		wantErr string
	}{
		{
			name: "zero takes defaults",
			want: Options{JournalMax: 1000, JournalAge: 7 * 24 * time.Hour, SignalAge: 6 * time.Hour, SignalMax: 240, Timeout: 5 * time.Second},
		},
		{
			name: "set values kept",
			opt:  Options{JournalMax: 5, JournalAge: time.Hour, SignalAge: time.Minute, SignalMax: 10, Timeout: time.Second},
			want: Options{JournalMax: 5, JournalAge: time.Hour, SignalAge: time.Minute, SignalMax: 10, Timeout: time.Second},
		},
		{
			name:    "negatives all reported",
			opt:     Options{JournalMax: -1, JournalAge: -1, SignalAge: -1, SignalMax: -1, Timeout: -1},
			wantErr: "journal max -1: must be >= 0\nsignal max -1: must be >= 0\njournal age -1ns: must be >= 0\nsignal age -1ns: must be >= 0\ntimeout -1ns: must be >= 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ebb.db")
			s, err := Open(path, tt.opt)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			defer s.Close()
			if diff := cmp.Diff(tt.want, s.opt); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if s.Path() != path {
				t.Errorf("Path() = %q, want %q", s.Path(), path)
			}
		})
	}
}

// writeVersion writes a schema version with bbolt directly, as another
// (older or newer) ebb would have left it.
func writeVersion(t *testing.T, path string, raw []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readVersion reads the schema version with bbolt directly; it also proves
// the file's lock is free.
func readVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	err = db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket([]byte("meta")).Get([]byte("schema"))
		if len(raw) != 8 {
			return fmt.Errorf("schema version is %d bytes", len(raw))
		}
		v = binary.BigEndian.Uint64(raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name        string
		existing    []byte // schema value already in the file; nil: a new file
		wantErr     string // with PATH standing for the file
		wantVersion uint64
	}{
		{name: "new file gets the current version", wantVersion: 1},
		{name: "version 0 is migrated", existing: u64key(0), wantVersion: 1},
		{name: "current version opens", existing: u64key(1), wantVersion: 1},
		{
			name:        "newer version is refused",
			existing:    u64key(2),
			wantErr:     "store PATH has schema version 2; this ebb understands up to 1",
			wantVersion: 2,
		},
		{
			name:        "malformed version is refused",
			existing:    []byte{1, 2, 3},
			wantErr:     "store PATH has a malformed schema version (3 bytes)",
			wantVersion: 0, // unreadable by readVersion; not checked
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ebb.db")
			if tt.existing != nil {
				writeVersion(t, path, tt.existing)
			}
			s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "PATH", path)
				if err == nil || err.Error() != want {
					t.Fatalf("Open error = %v, want %q", err, want)
				}
			} else if err != nil {
				t.Fatalf("Open: %v", err)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.wantVersion != 0 {
				if got := readVersion(t, path); got != tt.wantVersion {
					t.Errorf("schema version in file = %d, want %d", got, tt.wantVersion)
				}
			}
		})
	}
}

func TestMigrationsCoverEveryVersion(t *testing.T) {
	if len(migrations) != SchemaVersion {
		t.Fatalf("%d migrations for schema version %d: each version below it needs one", len(migrations), SchemaVersion)
	}
	for i, m := range migrations {
		if m.from != uint64(i) {
			t.Errorf("migrations[%d] is from version %d", i, m.from)
		}
	}
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ebb.db")
	first, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	want := "store " + path + " is in use by another process"
	if err == nil || err.Error() != want {
		t.Fatalf("second Open error = %v, want %q", err, want)
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open error is not ErrInUse")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	s := openTemp(t, Options{})
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutInstance(model.Instance{ID: "i-1", Group: "web", State: model.Pending, LaunchedAt: t0}); err != nil {
			return err
		}
		if _, err := tx.AddIntent(Intent{Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0}); err != nil {
			return err
		}
		if err := tx.PutGroupState("web", GroupState{Desired: 1}); err != nil {
			return err
		}
		return fmt.Errorf("launch i-1: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want the callback's", err)
	}
	mustView(t, s, func(tx *Tx) error {
		if _, found, err := tx.Instance("web", "i-1"); err != nil || found {
			t.Errorf("instance found=%v err=%v after rollback", found, err)
		}
		intents, err := tx.Intents("web", 0)
		if err != nil || len(intents) != 0 {
			t.Errorf("intents %v err=%v after rollback", intents, err)
		}
		groups, err := tx.Groups()
		if err != nil || len(groups) != 0 {
			t.Errorf("groups %v err=%v after rollback", groups, err)
		}
		return nil
	})
	// The rolled-back seq is not burnt either.
	mustUpdate(t, s, func(tx *Tx) error {
		in, err := tx.AddIntent(Intent{Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0})
		if in.Seq != 1 {
			t.Errorf("seq after rollback = %d, want 1", in.Seq)
		}
		return err
	})
}

func TestViewCannotWrite(t *testing.T) {
	s := openTemp(t, Options{})
	err := s.View(func(tx *Tx) error {
		return tx.PutGroupState("web", GroupState{Desired: 1})
	})
	checkErr(t, err, "put state of group web")
	if !errors.Is(err, bolt.ErrTxNotWritable) {
		t.Errorf("error %v is not bolt.ErrTxNotWritable", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "ebb.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(*Tx) error { return nil })
	if !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Errorf("Update after Close = %v, want ErrDatabaseNotOpen", err)
	}
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		time.Unix(0, -1<<63),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 999_999_999),
		time.Unix(0, 0),
		time.Unix(0, 1),
		t0,
		time.Unix(0, 1<<63-1),
	}
	for i, tm := range times {
		if !inKeyRange(tm) {
			t.Errorf("%s not in key range", tm)
		}
		if got := keyTime(timeKey(tm)); !got.Equal(tm) {
			t.Errorf("keyTime(timeKey(%s)) = %s", tm, got)
		}
		if i > 0 && string(timeKey(times[i-1])) >= string(timeKey(tm)) {
			t.Errorf("timeKey(%s) does not sort before timeKey(%s)", times[i-1], tm)
		}
	}
	if inKeyRange(time.Time{}) {
		t.Errorf("zero time is in key range")
	}
}

func TestWritesCountsUpdates(t *testing.T) {
	s := openTemp(t, Options{})
	if got := s.Writes(); got != 0 {
		t.Fatalf("Writes after Open = %d, want 0 (Open's own upgrade is not counted)", got)
	}
	mustView(t, s, func(*Tx) error { return nil })
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 1}) })
	_ = s.Update(func(*Tx) error { return errRollback })
	if got := s.Writes(); got != 2 {
		t.Errorf("Writes after a View, a committed and a rolled-back Update = %d, want 2", got)
	}
}

// A group written by an older ebb may lack sub-buckets added since: the
// next write creates them, beside those there; in a scratch store too,
// whose writes share a transaction.
func TestWriteGroupCreatesMissingSubBuckets(t *testing.T) {
	for _, opt := range []Options{{}, {Scratch: true}} {
		t.Run(fmt.Sprintf("scratch=%v", opt.Scratch), func(t *testing.T) { testWriteGroupCreatesMissingSubBuckets(t, opt) })
	}
}

func testWriteGroupCreatesMissingSubBuckets(t *testing.T, opt Options) {
	s := openTemp(t, opt)
	if err := s.db.Update(func(btx *bolt.Tx) error {
		g, err := btx.Bucket(bucketGroups).CreateBucket([]byte("web"))
		if err != nil {
			return err
		}
		// As many other buckets as a group has sub-buckets: only the
		// right names count.
		if _, err := g.CreateBucket(bucketInstances); err != nil {
			return err
		}
		for i := range len(groupSubBuckets) - 1 {
			if _, err := g.CreateBucket([]byte{'x', byte('a' + i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		mustUpdate(t, s, func(tx *Tx) error { return tx.PutInstance(model.Instance{ID: "i-1", Group: "web"}) })
		mustView(t, s, func(tx *Tx) error {
			for _, name := range groupSubBuckets {
				if tx.readSub("web", name) == nil {
					t.Errorf("group web has no %s bucket after a write", name)
				}
			}
			return nil
		})
	}
}

func TestRegistrations(t *testing.T) {
	st := openTemp(t, Options{})
	put := func(app, id, v string) error {
		return st.Update(func(tx *Tx) error { return tx.PutRegistration(app, id, json.RawMessage(v)) })
	}
	for _, r := range []struct{ app, id, v string }{{"W", "b", `{"id":"b"}`}, {"W", "a", `{"id":"a"}`}, {"X", "a", `{"id":"xa"}`}} {
		if err := put(r.app, r.id, r.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("", "a", `{}`); err == nil {
		t.Error("an empty app was kept")
	}
	if err := st.Update(func(tx *Tx) error { return tx.DeleteRegistration("W", "b") }); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx *Tx) error { return tx.DeleteRegistration("W", "never") }); err != nil {
		t.Errorf("deleting an unknown registration: %v", err)
	}
	var got []string
	if err := st.View(func(tx *Tx) error {
		rs, err := tx.Registrations()
		for _, r := range rs {
			got = append(got, string(r))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{`{"id":"a"}`, `{"id":"xa"}`}, got); d != "" {
		t.Errorf("registrations (-want +got):\n%s", d)
	}
}

// StateVersion moves with each Update that writes the group's state,
// committed or rolled back, and with nothing else: another group's state,
// the group's instances and reads leave it.
func TestStateVersion(t *testing.T) {
	for _, opt := range []Options{{}, {Scratch: true}} {
		t.Run(fmt.Sprintf("scratch=%v", opt.Scratch), func(t *testing.T) {
			s := openTemp(t, opt)
			v := s.StateVersion("web")
			check := func(what string, moves bool) {
				t.Helper()
				now := s.StateVersion("web")
				if (now != v) != moves {
					t.Errorf("%s: StateVersion %d, was %d: want it moved %v", what, now, v, moves)
				}
				v = now
			}
			mustUpdate(t, s, func(tx *Tx) error { return tx.PutGroupState("web", GroupState{Desired: 1}) })
			check("state written", true)
			mustUpdate(t, s, func(tx *Tx) error {
				return tx.PutInstance(model.Instance{ID: "web-1", Group: "web", LaunchedAt: t0, StateSince: t0})
			})
			check("an instance written", false)
			mustUpdate(t, s, func(tx *Tx) error { return tx.PutGroupState("api", GroupState{Desired: 1}) })
			check("another group's state written", false)
			mustView(t, s, func(tx *Tx) error { _, _, err := tx.GroupState("web"); return err })
			check("state read", false)
			if !opt.Scratch { // a scratch store's failed write loses it whole
				_ = s.Update(func(tx *Tx) error {
					if err := tx.PutGroupState("web", GroupState{Desired: 2}); err != nil {
						return err
					}
					return errRollback
				})
				check("state written, rolled back", true)
			}
			mustUpdate(t, s, func(tx *Tx) error {
				for i := range 3 {
					if err := tx.PutGroupState("web", GroupState{Desired: i}); err != nil {
						return err
					}
				}
				return nil
			})
			check("state written thrice in one Update", true)
		})
	}
}

// One transaction reading and writing several groups, each missing at
// first, reads what it wrote to each, in any order.
func TestTransactionAcrossGroups(t *testing.T) {
	s := openTemp(t, Options{})
	inst := func(group string) model.Instance {
		return model.Instance{ID: group + "-1", Group: group, LaunchedAt: t0, StateSince: t0}
	}
	mustUpdate(t, s, func(tx *Tx) error {
		for _, group := range []string{"web", "api", "web", "db", "api"} {
			if _, ok, err := tx.Instance(group, group+"-1"); err != nil {
				return err
			} else if !ok {
				if err := tx.PutInstance(inst(group)); err != nil {
					return err
				}
			}
			if err := tx.PutGroupState(group, GroupState{Desired: len(group)}); err != nil {
				return err
			}
		}
		for _, group := range []string{"db", "web", "api"} {
			all, err := tx.Instances(group)
			if err != nil {
				return err
			}
			gs, ok, err := tx.GroupState(group)
			if err != nil {
				return err
			}
			if len(all) != 1 || all[0].ID != group+"-1" || !ok || gs.Desired != len(group) {
				t.Errorf("group %s read %+v and %+v (%v) in the transaction that wrote them", group, all, gs, ok)
			}
		}
		return nil
	})
	mustView(t, s, func(tx *Tx) error {
		names, err := tx.Groups()
		if err != nil {
			return err
		}
		if d := cmp.Diff([]string{"api", "db", "web"}, names); d != "" {
			t.Errorf("groups (-want +got):\n%s", d)
		}
		return nil
	})
}
