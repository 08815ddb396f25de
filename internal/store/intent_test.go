package store

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func launch(group, instance string) Intent {
	return Intent{Group: group, Instance: instance, Kind: IntentLaunch, Created: t0}
}

func TestAddIntent(t *testing.T) {
	tests := []struct {
		name    string
		in      Intent
		want    Intent
		wantErr string
	}{
		{name: "launch", in: launch("web", "i-1"), want: Intent{Seq: 1, Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0}},
		{name: "drain", in: Intent{Group: "web", Instance: "i-1", Kind: IntentDrain, Created: t0}, want: Intent{Seq: 1, Group: "web", Instance: "i-1", Kind: IntentDrain, Created: t0}},
		{name: "terminate", in: Intent{Group: "web", Instance: "i-1", Kind: IntentTerminate, Created: t0}, want: Intent{Seq: 1, Group: "web", Instance: "i-1", Kind: IntentTerminate, Created: t0}},
		{name: "empty group", in: launch("", "i-1"), wantErr: "group name is empty"},
		{name: "empty instance", in: launch("web", ""), wantErr: "instance id is empty"},
		{name: "unknown kind", in: Intent{Group: "web", Instance: "i-1", Kind: "reboot", Created: t0}, wantErr: `kind "reboot": must be launch, drain or terminate`},
		{name: "zero created", in: Intent{Group: "web", Instance: "i-1", Kind: IntentLaunch}, wantErr: "created time is zero"},
		{name: "seq set", in: Intent{Seq: 4, Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0}, wantErr: "seq 4 is set: the store assigns it"},
		{name: "already done", in: Intent{Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0, Done: true}, wantErr: "a new intent cannot be done"},
		{
			name:    "every problem at once",
			in:      Intent{Seq: 1, Kind: "x"},
			wantErr: "add x intent for /: group name is empty\ninstance id is empty\nkind \"x\": must be launch, drain or terminate\ncreated time is zero\nseq 1 is set: the store assigns it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			var got Intent
			err := s.Update(func(tx *Tx) error {
				var err error
				got, err = tx.AddIntent(tt.in)
				return err
			})
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("intent (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			mustView(t, s, func(tx *Tx) error {
				stored, err := tx.Intents(tt.in.Group, 0)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]Intent{tt.want}, stored); diff != "" {
					t.Errorf("stored (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestIntentSeqIsGlobal(t *testing.T) {
	s := openTemp(t, Options{})
	var seqs []uint64
	for _, group := range []string{"web", "api", "web"} {
		mustUpdate(t, s, func(tx *Tx) error {
			in, err := tx.AddIntent(launch(group, "i"))
			seqs = append(seqs, in.Seq)
			return err
		})
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, seqs); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
}

func TestFinishIntent(t *testing.T) {
	done := t0.Add(time.Minute)
	tests := []struct {
		name    string
		finish  []uint64 // finished in turn, each in its own Update; the last may fail
		now     time.Time
		wantErr string
		want    []Intent // group web, newest first
	}{
		{
			name:   "finish one",
			finish: []uint64{1},
			now:    done,
			want: []Intent{
				{Seq: 3, Group: "web", Instance: "i-3", Kind: IntentLaunch, Created: t0},
				{Seq: 1, Group: "web", Instance: "i-1", Kind: IntentLaunch, Created: t0, Done: true, DoneAt: done, Result: "ok"},
			},
		},
		{
			name:    "unknown seq",
			finish:  []uint64{99},
			now:     done,
			wantErr: "finish intent 99: no such intent",
		},
		{
			name:    "twice",
			finish:  []uint64{3, 3},
			now:     done,
			wantErr: "finish intent 3: already done at 2025-03-01T12:01:00Z (ok)",
		},
		{
			name:    "zero time",
			finish:  []uint64{1},
			wantErr: "finish intent 1: finish time is zero",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			mustUpdate(t, s, func(tx *Tx) error {
				for _, in := range []Intent{launch("web", "i-1"), launch("api", "i-2"), launch("web", "i-3")} {
					if _, err := tx.AddIntent(in); err != nil {
						return err
					}
				}
				return nil
			})
			var err error
			for _, seq := range tt.finish {
				err = s.Update(func(tx *Tx) error { return tx.FinishIntent(seq, tt.now, "ok") })
			}
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Intents("web", 0)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("intents (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestOpenIntents(t *testing.T) {
	tests := []struct {
		name     string
		finish   []uint64
		group    string
		wantSeqs []uint64
	}{
		{name: "unknown group", group: "db"},
		{name: "all open, oldest first", group: "web", wantSeqs: []uint64{1, 3, 4}},
		{name: "done ones left out", finish: []uint64{3}, group: "web", wantSeqs: []uint64{1, 4}},
		{name: "all done", finish: []uint64{2}, group: "api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			mustUpdate(t, s, func(tx *Tx) error {
				for _, group := range []string{"web", "api", "web", "web"} {
					if _, err := tx.AddIntent(launch(group, "i")); err != nil {
						return err
					}
				}
				for _, seq := range tt.finish {
					if err := tx.FinishIntent(seq, t0, ""); err != nil {
						return err
					}
				}
				return nil
			})
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.OpenIntents(tt.group)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantSeqs, seqsOf(got)); diff != "" {
					t.Errorf("seqs (-want +got):\n%s", diff)
				}
				for _, in := range got {
					if in.Done {
						t.Errorf("open intent %d is done", in.Seq)
					}
				}
				return nil
			})
		})
	}
}

func seqsOf(intents []Intent) []uint64 {
	var seqs []uint64
	for _, in := range intents {
		seqs = append(seqs, in.Seq)
	}
	return seqs
}

func TestIntents(t *testing.T) {
	tests := []struct {
		name     string
		group    string
		limit    int
		wantSeqs []uint64
	}{
		{name: "all, newest first, done or not", group: "web", wantSeqs: []uint64{5, 4, 3, 1}},
		{name: "negative limit is all", group: "web", limit: -1, wantSeqs: []uint64{5, 4, 3, 1}},
		{name: "limited", group: "web", limit: 2, wantSeqs: []uint64{5, 4}},
		{name: "limit above count", group: "web", limit: 10, wantSeqs: []uint64{5, 4, 3, 1}},
		{name: "other group", group: "api", wantSeqs: []uint64{2}},
		{name: "unknown group", group: "db"},
	}
	s := openTemp(t, Options{})
	mustUpdate(t, s, func(tx *Tx) error {
		for _, group := range []string{"web", "api", "web", "web", "web"} {
			if _, err := tx.AddIntent(launch(group, "i")); err != nil {
				return err
			}
		}
		return tx.FinishIntent(4, t0, "ok")
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Intents(tt.group, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantSeqs, seqsOf(got)); diff != "" {
					t.Errorf("seqs (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestIntentRetention(t *testing.T) {
	tests := []struct {
		name       string
		journalMax int
		add        int      // intents added to group web, seqs 1..add
		finish     []uint64 // in this order
		wantSeqs   []uint64 // kept, newest first
		wantOpen   []uint64
	}{
		{
			name:       "done beyond the bound go, oldest first",
			journalMax: 2, add: 4, finish: []uint64{1, 2, 3, 4},
			wantSeqs: []uint64{4, 3},
		},
		{
			name:       "open ones stay whatever their number or age",
			journalMax: 2, add: 6, finish: []uint64{2, 4, 5, 6},
			wantSeqs: []uint64{6, 5, 3, 1},
			wantOpen: []uint64{1, 3},
		},
		{
			name:       "finishing out of order drops by seq",
			journalMax: 1, add: 3, finish: []uint64{3, 1},
			wantSeqs: []uint64{3, 2},
			wantOpen: []uint64{2},
		},
		{
			name:       "within the bound nothing goes",
			journalMax: 5, add: 3, finish: []uint64{1, 2, 3},
			wantSeqs: []uint64{3, 2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{JournalMax: tt.journalMax})
			mustUpdate(t, s, func(tx *Tx) error {
				for range tt.add {
					if _, err := tx.AddIntent(launch("web", "i")); err != nil {
						return err
					}
				}
				return nil
			})
			for _, seq := range tt.finish {
				mustUpdate(t, s, func(tx *Tx) error { return tx.FinishIntent(seq, t0, "ok") })
			}
			mustView(t, s, func(tx *Tx) error {
				all, err := tx.Intents("web", 0)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantSeqs, seqsOf(all)); diff != "" {
					t.Errorf("kept (-want +got):\n%s", diff)
				}
				open, err := tx.OpenIntents("web")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantOpen, seqsOf(open)); diff != "" {
					t.Errorf("open (-want +got):\n%s", diff)
				}
				// Pruned intents leave the seq index too.
				if n := countKeys(tx.root(bucketIntentGroups)); n != len(tt.wantSeqs) {
					t.Errorf("index holds %d seqs, want %d", n, len(tt.wantSeqs))
				}
				return nil
			})
		})
	}
}

// Retention checked against a naive account of the same history: random
// adds and finishes across many pruning rounds keep exactly the open
// intents and the newest journalMax done ones.
func TestIntentRetentionRandom(t *testing.T) {
	const keep = 5
	s := openTemp(t, Options{JournalMax: keep})
	rng := rand.New(rand.NewPCG(3, 4))
	var open, done []uint64 // the naive account, by seq
	for range 300 {
		if len(open) == 0 || rng.IntN(3) > 0 {
			var in Intent
			mustUpdate(t, s, func(tx *Tx) (err error) { in, err = tx.AddIntent(launch("web", "i")); return err })
			open = append(open, in.Seq)
			continue
		}
		i := rng.IntN(len(open))
		seq := open[i]
		open = slices.Delete(open, i, i+1)
		mustUpdate(t, s, func(tx *Tx) error { return tx.FinishIntent(seq, t0, "ok") })
		done = append(done, seq)
		slices.Sort(done)
		done = done[max(0, len(done)-keep):]
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(open), done...)))
	slices.Reverse(want)
	mustView(t, s, func(tx *Tx) error {
		all, err := tx.Intents("web", 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, seqsOf(all)); diff != "" {
			t.Errorf("kept (-want +got):\n%s", diff)
		}
		return nil
	})
}
