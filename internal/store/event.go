package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one operator action on a group (scale, suspend, resume, drain,
// terminate, protect, unprotect) and its effect, for the record.
type Event struct {
	// Seq increases per group; it is not shared with other groups.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Instance is the instance acted on, if any.
	Instance string `json:"instance,omitempty"`
	// Detail is the effect in words: "desired 3 → 8".
	Detail string `json:"detail"`
}

// AppendEvent adds an operator event to the group's log, assigning its Seq,
// and returns the Seq. Like AppendDecision it keeps the log within
// Options.JournalMax entries and drops those older than e.Time −
// Options.JournalAge in the same transaction.
func (tx *Tx) AppendEvent(group string, e Event) (uint64, error) {
	if e.Action == "" {
		return 0, fmt.Errorf("append event to group %s: action is empty", group)
	}
	g, err := tx.writeGroup(group)
	if err != nil {
		return 0, fmt.Errorf("append event to group %s: %w", group, err)
	}
	b := g.Bucket(bucketEvents)
	b.FillPercent = appendFill
	if e.Seq, err = b.NextSequence(); err != nil {
		return 0, fmt.Errorf("assign event seq in group %s: %w", group, err)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode event %d of group %s: %w", e.Seq, group, err)
	}
	if err := b.Put(u64key(e.Seq), v); err != nil {
		return 0, fmt.Errorf("put event %d of group %s: %w", e.Seq, group, err)
	}
	if err := pruneJournal(b, tx.opt.JournalMax, e.Time.Add(-tx.opt.JournalAge)); err != nil {
		return 0, fmt.Errorf("prune events of group %s: %w", group, err)
	}
	return e.Seq, nil
}

// Events returns up to limit of the group's operator events, newest first;
// limit <= 0 returns them all.
func (tx *Tx) Events(group string, limit int) ([]Event, error) {
	b := tx.readSub(group, bucketEvents)
	if b == nil {
		return nil, nil
	}
	var out []Event
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("group %s: decode event %d: %w", group, binary.BigEndian.Uint64(k), err)
		}
		out = append(out, e)
	}
	return out, nil
}
