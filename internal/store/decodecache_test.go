package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Reads through the decode cache return what decoding the stored bytes
// returns, across random puts, changes and deletes, in committed and
// rolled-back transactions, and the cache holds no instance the store no
// longer does once its group is read.
func TestDecodeCacheInstances(t *testing.T) {
	s := openTemp(t, Options{})
	rng := rand.New(rand.NewPCG(5, 6))
	states := []model.InstanceState{model.Pending, model.Launching, model.InService, model.Draining, model.Terminating}
	for round := range 400 {
		id := fmt.Sprintf("i-%d", rng.IntN(12))
		group := []string{"web", "api"}[rng.IntN(2)]
		write := func(tx *Tx) error {
			if rng.IntN(4) == 0 {
				return tx.DeleteInstance(group, id)
			}
			inst := model.Instance{ID: id, Group: group, State: states[rng.IntN(len(states))],
				LaunchedAt: t0.Add(time.Duration(rng.IntN(5)) * time.Second), StateSince: t0.Add(time.Duration(round) * time.Second)}
			if rng.IntN(2) == 0 {
				inst.Process = &model.Process{PID: rng.IntN(100)}
			}
			return tx.PutInstance(inst)
		}
		writeAndCheck(t, s, rng, write, func(tx *Tx) { checkDecoded(t, tx, group) })
	}
	mustView(t, s, func(tx *Tx) error {
		for _, group := range []string{"web", "api"} {
			all, err := tx.Instances(group)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(s.dec.groups[group].insts); n != len(all) {
				t.Errorf("group %s: %d instances cached, %d stored", group, n, len(all))
			}
		}
		return nil
	})
}

// checkDecoded compares the group's instances, read by Instances and one
// by one by Instance, with the stored bytes decoded afresh.
func checkDecoded(t *testing.T, tx *Tx, group string) {
	t.Helper()
	var want []model.Instance
	if b := tx.readSub(group, bucketInstances); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			var inst model.Instance
			if err := json.Unmarshal(v, &inst); err != nil {
				return err
			}
			want = append(want, inst)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tx.Instances(group)
	if err != nil {
		t.Fatal(err)
	}
	byID := func(insts []model.Instance) map[string]model.Instance {
		m := map[string]model.Instance{}
		for _, in := range insts {
			m[in.ID] = in
		}
		return m
	}
	if diff := cmp.Diff(byID(want), byID(got)); diff != "" {
		t.Fatalf("Instances (-decoded +read):\n%s", diff)
	}
	for _, w := range want {
		one, ok, err := tx.Instance(group, w.ID)
		if err != nil || !ok {
			t.Fatalf("Instance %s: %v, %v", w.ID, ok, err)
		}
		if diff := cmp.Diff(w, one); diff != "" {
			t.Fatalf("Instance %s (-decoded +read):\n%s", w.ID, diff)
		}
	}
}

// An instance read from the cache shares nothing a caller can change with
// the next read.
func TestDecodeCacheCopies(t *testing.T) {
	s := openTemp(t, Options{})
	mustUpdate(t, s, func(tx *Tx) error {
		return tx.PutInstance(model.Instance{ID: "i-1", Group: "web", Process: &model.Process{PID: 7}})
	})
	for range 2 {
		mustView(t, s, func(tx *Tx) error {
			all, err := tx.Instances("web")
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 || all[0].Process == nil || all[0].Process.PID != 7 {
				t.Fatalf("read %+v, want i-1 with pid 7", all)
			}
			all[0].Process.PID = 8 // must not reach the next read
			all[0].State = model.Failed
			return nil
		})
	}
}

// A group's state read through the cache is what decoding its stored bytes
// gives, as it changes (with and without engine memory, in UTC and in a
// zone, read in the transaction that wrote it and after), and callers
// changing what they read change nothing the next read returns.
func TestDecodeCacheState(t *testing.T) {
	s := openTemp(t, Options{})
	paris := time.FixedZone("CET", 3600)
	for i := range 12 {
		n := i % 3
		want := GroupState{Desired: i, LastScale: t0.Add(time.Duration(i) * time.Minute),
			Suspended: Suspended{Launch: i%2 == 0}, System: &n}
		if i%4 < 2 {
			want.Engine = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i/2))
		}
		if i%3 == 2 {
			want.LastUp = t0.In(paris)
		}
		if i%5 == 4 {
			want.System = nil
		}
		read := func(tx *Tx) {
			got, ok, err := tx.GroupState("web")
			if err != nil || !ok {
				t.Fatalf("GroupState: %v, %v", ok, err)
			}
			var dec GroupState
			if err := json.Unmarshal(tx.readGroup("web").Get(keyState), &dec); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, dec) { // to the unexported fields of time.Time
				t.Fatalf("state %d read %#v\nwant decoded %#v", i, got, dec)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("state (-put +read):\n%s", diff)
			}
			if got.System != nil {
				*got.System = 99 // must not reach the next read
			}
			if len(got.Engine) > 0 {
				got.Engine[0] = 'x'
			}
		}
		mustUpdate(t, s, func(tx *Tx) error {
			if err := tx.PutGroupState("web", want); err != nil {
				return err
			}
			read(tx)
			return nil
		})
		for range 2 {
			mustView(t, s, func(tx *Tx) error {
				read(tx)
				return nil
			})
		}
	}
}

// Open intents read through the cache (OpenIntents, and FinishIntent's
// read of the one it closes) are what decoding their stored bytes gives,
// across random adds and finishes, in committed and rolled-back
// transactions, with times in UTC and in a zone; and the cache holds no
// intent that is done.
func TestDecodeCacheIntents(t *testing.T) {
	s := openTemp(t, Options{JournalMax: 3})
	rng := rand.New(rand.NewPCG(7, 8))
	paris := time.FixedZone("CET", 3600)
	kinds := []IntentKind{IntentLaunch, IntentDrain, IntentTerminate}
	for round := range 300 {
		group := []string{"web", "api"}[rng.IntN(2)]
		write := func(tx *Tx) error {
			open, err := tx.OpenIntents(group)
			if err != nil {
				return err
			}
			if len(open) > 0 && rng.IntN(2) == 0 {
				in := open[rng.IntN(len(open))]
				return tx.FinishIntent(in.Seq, t0.Add(time.Duration(round)*time.Second), "done")
			}
			created := t0.Add(time.Duration(round) * time.Second)
			if rng.IntN(4) == 0 {
				created = created.In(paris) // stored as its offset: decoded, not cached
			}
			_, err = tx.AddIntent(Intent{Group: group, Instance: fmt.Sprintf("i-%d", rng.IntN(5)), Kind: kinds[rng.IntN(3)], Created: created})
			return err
		}
		writeAndCheck(t, s, rng, write, func(tx *Tx) { checkIntentsDecoded(t, tx, group) })
	}
	mustView(t, s, func(tx *Tx) error {
		for seq := range s.dec.intents {
			for _, group := range []string{"web", "api"} {
				if g := tx.readGroup(group); g != nil && g.Bucket(bucketOpen).Get(u64key(seq)) == nil && g.Bucket(bucketIntents).Get(u64key(seq)) != nil {
					t.Errorf("intent %d of %s is cached but not open", seq, group)
				}
			}
		}
		return nil
	})
}

// checkIntentsDecoded compares the group's open intents, as OpenIntents
// reads them, with their stored bytes decoded afresh.
func checkIntentsDecoded(t *testing.T, tx *Tx, group string) {
	t.Helper()
	var want []Intent
	if g := tx.readGroup(group); g != nil {
		c := g.Bucket(bucketOpen).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			var in Intent
			if err := json.Unmarshal(g.Bucket(bucketIntents).Get(k), &in); err != nil {
				t.Fatal(err)
			}
			want = append(want, in)
		}
	}
	got, err := tx.OpenIntents(group)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) { // to the unexported fields of time.Time
		t.Fatalf("OpenIntents = %#v\nwant %#v", got, want)
	}
}

// An intent decodes as itself exactly when decodesAsItself says so, and
// every field of Intent is of a kind it knows about.
func TestIntentDecodesAsItself(t *testing.T) {
	known := map[reflect.Type]bool{
		reflect.TypeFor[uint64](): true, reflect.TypeFor[string](): true, reflect.TypeFor[IntentKind](): true,
		reflect.TypeFor[bool](): true, reflect.TypeFor[time.Time](): true,
	}
	for f := range reflect.TypeFor[Intent]().Fields() {
		if !known[f.Type] {
			t.Fatalf("Intent.%s is a %s: teach decodesAsItself how it decodes", f.Name, f.Type)
		}
	}
	base := Intent{Seq: 7, Group: "w", Instance: "w-1", Kind: IntentDrain, Created: t0, Done: true, DoneAt: t0.Add(time.Second + 3), Result: "asked <to> finish & more"}
	for _, tc := range []struct {
		name   string
		change func(*Intent)
		itself bool
	}{
		{"UTC, as a fake clock's", func(*Intent) {}, true},
		{"open", func(in *Intent) { in.Done, in.DoneAt, in.Result = false, time.Time{}, "" }, true},
		{"the real clock's reading", func(in *Intent) { in.Created = time.Now() }, false},
		{"a zone at UTC's offset", func(in *Intent) { in.DoneAt = t0.In(time.FixedZone("UTC", 0)) }, false},
		{"invalid UTF-8", func(in *Intent) { in.Result = "exit \xff" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.change(&in)
			v, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var dec Intent
			if err := json.Unmarshal(v, &dec); err != nil {
				t.Fatal(err)
			}
			if got, same := in.decodesAsItself(), reflect.DeepEqual(dec, in); got != tc.itself || same != tc.itself {
				t.Fatalf("decodesAsItself = %v, decoded equal = %v, want %v", got, same, tc.itself)
			}
		})
	}
}

// writeAndCheck runs write in a transaction, committed, or one time in
// five checked inside and then rolled back; then it checks in a read.
func writeAndCheck(t *testing.T, s *Store, rng *rand.Rand, write func(*Tx) error, check func(*Tx)) {
	t.Helper()
	if rng.IntN(5) == 0 {
		err := s.Update(func(tx *Tx) error {
			if err := write(tx); err != nil {
				return err
			}
			check(tx)
			return errRollback
		})
		if err != errRollback {
			t.Fatal(err)
		}
	} else {
		mustUpdate(t, s, write)
	}
	mustView(t, s, func(tx *Tx) error {
		check(tx)
		return nil
	})
}
