package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/google/go-cmp/cmp"
)

func TestAppendDecision(t *testing.T) {
	tests := []struct {
		name     string
		group    string
		decision json.RawMessage
		wantSeq  uint64
		wantErr  string
	}{
		{name: "first", group: "web", decision: json.RawMessage(`{"desired":3}`), wantSeq: 1},
		{name: "empty group", decision: json.RawMessage(`{}`), wantErr: "append decision to group : group name is empty"},
		{name: "invalid JSON", group: "web", decision: json.RawMessage(`{"desired":`), wantErr: "decision is not valid JSON"},
		{name: "no JSON", group: "web", wantErr: "decision is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			var seq uint64
			err := s.Update(func(tx *Tx) error {
				var err error
				seq, err = tx.AppendDecision(tt.group, t0, tt.decision)
				return err
			})
			checkErr(t, err, tt.wantErr)
			if seq != tt.wantSeq {
				t.Errorf("seq = %d, want %d", seq, tt.wantSeq)
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	// A real decision, so the journal is shown to carry what the engine
	// writes; Marshal's compact form is what comes back.
	d := model.Decision{Group: "web", Time: t0, Current: 2, Desired: 3, Direction: model.Up, Decider: -1}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	s := openTemp(t, Options{})
	mustUpdate(t, s, func(tx *Tx) error {
		for i, group := range []string{"web", "api", "web", "web"} {
			if _, err := tx.AppendDecision(group, t0.Add(time.Duration(i)*time.Minute), raw); err != nil {
				return err
			}
		}
		return nil
	})
	entry := func(seq uint64, minute int) Entry {
		return Entry{Seq: seq, Time: t0.Add(time.Duration(minute) * time.Minute), Decision: raw}
	}
	tests := []struct {
		name  string
		group string
		limit int
		want  []Entry
	}{
		{name: "all, newest first; seq is per group", group: "web", want: []Entry{entry(3, 3), entry(2, 2), entry(1, 0)}},
		{name: "limited", group: "web", limit: 1, want: []Entry{entry(3, 3)}},
		{name: "other group", group: "api", limit: 5, want: []Entry{entry(1, 1)}},
		{name: "unknown group", group: "db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Decisions(tt.group, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestJournalRetention(t *testing.T) {
	tests := []struct {
		name     string
		opt      Options
		times    []time.Duration // after t0, appended in turn, one Update each
		wantSeqs []uint64        // kept, newest first
	}{
		{
			name:     "by count",
			opt:      Options{JournalMax: 3},
			times:    []time.Duration{0, 1 * time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute},
			wantSeqs: []uint64{5, 4, 3},
		},
		{
			name:     "by age, relative to the appended time",
			opt:      Options{JournalAge: time.Hour},
			times:    []time.Duration{0, 30 * time.Minute, 61 * time.Minute, 120 * time.Minute},
			wantSeqs: []uint64{4, 3},
		},
		{
			name:     "exactly the age is kept",
			opt:      Options{JournalAge: time.Hour},
			times:    []time.Duration{0, time.Hour},
			wantSeqs: []uint64{2, 1},
		},
		{
			name:     "default age is 7 days",
			times:    []time.Duration{0, 24 * time.Hour, 8 * 24 * time.Hour},
			wantSeqs: []uint64{3, 2},
		},
		{
			name:     "count and age together",
			opt:      Options{JournalMax: 2, JournalAge: time.Hour},
			times:    []time.Duration{0, 10 * time.Minute, 20 * time.Minute, 90 * time.Minute},
			wantSeqs: []uint64{4},
		},
		{
			name:     "after the clock steps back nothing is dropped",
			opt:      Options{JournalAge: time.Hour},
			times:    []time.Duration{0, -2 * time.Hour},
			wantSeqs: []uint64{2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, tt.opt)
			for i, d := range tt.times {
				mustUpdate(t, s, func(tx *Tx) error {
					_, err := tx.AppendDecision("web", t0.Add(d), json.RawMessage(fmt.Sprint(i)))
					return err
				})
			}
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Decisions("web", 0)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []uint64
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				if diff := cmp.Diff(tt.wantSeqs, seqs); diff != "" {
					t.Errorf("kept (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

// Retention at the default bound, in one transaction, as a long-running
// daemon reaches it.
func TestJournalRetentionAtDefault(t *testing.T) {
	s := openTemp(t, Options{})
	const n = DefaultJournalMax + 50
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range n {
			if _, err := tx.AppendDecision("web", t0.Add(time.Duration(i)*time.Second), json.RawMessage(`{}`)); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, s, func(tx *Tx) error {
		got, err := tx.Decisions("web", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != DefaultJournalMax || got[0].Seq != n || got[len(got)-1].Seq != n-DefaultJournalMax+1 {
			t.Errorf("kept %d entries, seqs %d..%d; want %d, %d..%d",
				len(got), got[len(got)-1].Seq, got[0].Seq, DefaultJournalMax, n-DefaultJournalMax+1, n)
		}
		return nil
	})
}

func TestRepeatDecision(t *testing.T) {
	s := openTemp(t, Options{})
	mustUpdate(t, s, func(tx *Tx) error { return tx.RepeatDecision("g", t0, []byte(`{"n":0}`), 1) })
	for i := 1; i <= 3; i++ {
		mustUpdate(t, s, func(tx *Tx) error {
			return tx.RepeatDecision("g", t0.Add(time.Duration(i)*time.Minute), []byte(fmt.Sprintf(`{"n":%d}`, i)), i)
		})
	}
	mustView(t, s, func(tx *Tx) error {
		got, err := tx.Decisions("g", 0)
		if err != nil {
			return err
		}
		want := []Entry{{Seq: 1, Time: t0, Decision: []byte(`{"n":0}`), Repeats: 6, Last: t0.Add(3 * time.Minute)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("journal (-want +got):\n%s", diff)
		}
		return nil
	})
	err := s.Update(func(tx *Tx) error { return tx.RepeatDecision("g", t0, []byte(`{`), 1) })
	checkErr(t, err, "not valid JSON")
	err = s.Update(func(tx *Tx) error { return tx.RepeatDecision("g", t0, []byte(`{}`), 0) })
	checkErr(t, err, "0 repeats")
}
