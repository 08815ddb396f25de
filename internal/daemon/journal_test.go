package daemon

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/store"
)

// An idle group is decided every interval, but its holds are coalesced
// into one journal entry and written once per persistEvery: the journal
// keeps changes, the latest decision stays in memory, and the store is
// written a few times an hour rather than at every interval.
func TestRepeatedHoldsAreJournaledRarely(t *testing.T) {
	h := newHarness(t, `
  - name: steady
    capacity: {min: 1, max: 3}
    interval: 10s
    policies: [{fixed: {desired: 2}}]
`, Options{})
	h.tick(0) // 1 → 2
	h.tick(10 * time.Second)
	before, entries := h.d.st.Writes(), h.decisions("steady")
	if entries != 1 {
		t.Fatalf("%d journal entries after the scale-out and its first hold, want 1", entries)
	}
	for range 30 * 6 { // 30 minutes of 10 s intervals
		h.tick(10 * time.Second)
		if dec, _ := h.last("steady"); !dec.Time.Equal(h.clock.Now()) {
			t.Fatalf("latest decision at %v, want one at every interval (%v)", dec.Time, h.clock.Now())
		}
	}
	if got := h.decisions("steady"); got != entries {
		t.Errorf("%d journal entries after 30 minutes of holds, want %d", got, entries)
	}
	periods := uint64(30 * time.Minute / persistEvery)
	if got := h.d.st.Writes() - before; got < periods || got > periods+1 {
		t.Errorf("%d store writes in 30 minutes, want %d or %d (one per %v)", got, periods, periods+1, persistEvery)
	}

	// A change is journaled at once.
	if _, err := h.d.Scale("steady", 3); err != nil {
		t.Fatal(err)
	}
	n := h.decisions("steady")
	h.tick(10 * time.Second)
	if got := h.decisions("steady"); got != n+1 {
		t.Errorf("%d entries after an operator's scale and a decision, want %d", got, n+1)
	}
}

func (h *harness) decisions(group string) int {
	h.t.Helper()
	var n int
	if err := h.d.st.View(func(tx *store.Tx) error {
		es, err := tx.Decisions(group, 0)
		n = len(es)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return n
}
