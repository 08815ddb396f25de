package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEvents(t *testing.T) {
	s := openTemp(t, Options{})
	in := []struct {
		group string
		e     Event
	}{
		{"web", Event{Time: t0, Action: "scale", Detail: "desired 3 → 8"}},
		{"api", Event{Time: t0.Add(time.Minute), Action: "suspend", Detail: "suspended launch"}},
		{"web", Event{Time: t0.Add(2 * time.Minute), Action: "drain", Instance: "web-1", Detail: "draining"}},
	}
	mustUpdate(t, s, func(tx *Tx) error {
		for i, x := range in {
			seq, err := tx.AppendEvent(x.group, x.e)
			if err != nil {
				return err
			}
			if want := []uint64{1, 1, 2}[i]; seq != want {
				t.Errorf("event %d: seq %d, want %d (per group)", i, seq, want)
			}
		}
		return nil
	})
	tests := []struct {
		name  string
		group string
		limit int
		want  []Event
	}{
		{name: "newest first", group: "web", want: []Event{
			{Seq: 2, Time: t0.Add(2 * time.Minute), Action: "drain", Instance: "web-1", Detail: "draining"},
			{Seq: 1, Time: t0, Action: "scale", Detail: "desired 3 → 8"},
		}},
		{name: "limited", group: "web", limit: 1, want: []Event{
			{Seq: 2, Time: t0.Add(2 * time.Minute), Action: "drain", Instance: "web-1", Detail: "draining"},
		}},
		{name: "other group", group: "api", want: []Event{{Seq: 1, Time: t0.Add(time.Minute), Action: "suspend", Detail: "suspended launch"}}},
		{name: "unknown group", group: "db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Events(tt.group, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestAppendEventErrors(t *testing.T) {
	s := openTemp(t, Options{})
	tests := []struct {
		name, group, action, want string
	}{
		{name: "no action", group: "web", want: "append event to group web: action is empty"},
		{name: "no group", action: "scale", want: "append event to group : group name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(func(tx *Tx) error {
				_, err := tx.AppendEvent(tt.group, Event{Time: t0, Action: tt.action})
				return err
			})
			checkErr(t, err, tt.want)
		})
	}
}

// The operator log is bounded like the decision journal: by count and by
// age, measured from the event being appended; decisions are not touched.
func TestEventRetention(t *testing.T) {
	s := openTemp(t, Options{JournalMax: 3, JournalAge: time.Hour})
	mustUpdate(t, s, func(tx *Tx) error {
		if _, err := tx.AppendDecision("web", t0, []byte(`{}`)); err != nil {
			return err
		}
		for i := range 5 {
			if _, err := tx.AppendEvent("web", Event{Time: t0.Add(time.Duration(i) * time.Minute), Action: "scale"}); err != nil {
				return err
			}
		}
		return nil
	})
	seqs := func() []uint64 {
		var out []uint64
		mustView(t, s, func(tx *Tx) error {
			evs, err := tx.Events("web", 0)
			for _, e := range evs {
				out = append(out, e.Seq)
			}
			return err
		})
		return out
	}
	if diff := cmp.Diff([]uint64{5, 4, 3}, seqs()); diff != "" {
		t.Fatalf("count bound (-want +got):\n%s", diff)
	}
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.AppendEvent("web", Event{Time: t0.Add(64 * time.Minute), Action: "scale"})
		return err
	})
	// 64m: events at 2m and 3m are older than an hour; 4m is not.
	if diff := cmp.Diff([]uint64{6, 5}, seqs()); diff != "" {
		t.Fatalf("age bound (-want +got):\n%s", diff)
	}
	mustView(t, s, func(tx *Tx) error {
		d, err := tx.Decisions("web", 0)
		if len(d) != 1 {
			t.Errorf("decisions: %d, want 1", len(d))
		}
		return err
	})
}
