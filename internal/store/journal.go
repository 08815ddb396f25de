package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Entry is one decision in a group's journal. Holds that repeat its
// outcome are coalesced into it: Repeats counts them and Last is when the
// latest was; Decision stays the entry's own (the latest is what explain
// shows).
type Entry struct {
	// Seq increases per group; it is not shared with other groups.
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Decision json.RawMessage `json:"decision"`
	Repeats  int             `json:"repeats,omitempty"`
	Last     time.Time       `json:"last,omitzero"`
}

// AppendDecision adds a decision to the group's journal and returns its Seq.
// In the same transaction it drops the entries beyond Options.JournalMax and
// those older than t − Options.JournalAge, so the journal never outgrows its
// bounds between two appends.
func (tx *Tx) AppendDecision(group string, t time.Time, decision json.RawMessage) (uint64, error) {
	if !json.Valid(decision) {
		return 0, fmt.Errorf("append decision to group %s: decision is not valid JSON", group)
	}
	g, err := tx.writeGroup(group)
	if err != nil {
		return 0, fmt.Errorf("append decision to group %s: %w", group, err)
	}
	b := g.Bucket(bucketDecisions)
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("assign decision seq in group %s: %w", group, err)
	}
	v, err := json.Marshal(Entry{Seq: seq, Time: t, Decision: decision})
	if err != nil {
		return 0, fmt.Errorf("encode decision %d of group %s: %w", seq, group, err)
	}
	if err := b.Put(u64key(seq), v); err != nil {
		return 0, fmt.Errorf("put decision %d of group %s: %w", seq, group, err)
	}
	if err := pruneJournal(b, tx.opt.JournalMax, t.Add(-tx.opt.JournalAge)); err != nil {
		return 0, fmt.Errorf("prune decisions of group %s: %w", group, err)
	}
	return seq, nil
}

// RepeatDecision coalesces n decisions that repeat the outcome of the
// group's newest journal entry into it: the entry's Repeats grows by n and
// Last becomes t; its Decision is kept. With no entry yet, decision is
// appended. The journal does not grow with a group that holds tick after
// tick.
func (tx *Tx) RepeatDecision(group string, t time.Time, decision json.RawMessage, n int) error {
	if n < 1 {
		return fmt.Errorf("repeat decision in group %s: %d repeats", group, n)
	}
	if !json.Valid(decision) {
		return fmt.Errorf("repeat decision in group %s: decision is not valid JSON", group)
	}
	g, err := tx.writeGroup(group)
	if err != nil {
		return fmt.Errorf("repeat decision in group %s: %w", group, err)
	}
	b := g.Bucket(bucketDecisions)
	b.FillPercent = appendFill
	k, v := b.Cursor().Last()
	if k == nil {
		_, err := tx.AppendDecision(group, t, decision)
		return err
	}
	e, err := decodeEntry(k, v)
	if err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	e.Repeats += n
	e.Last = t
	nv, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode decision %d of group %s: %w", e.Seq, group, err)
	}
	if err := b.Put(bytes.Clone(k), nv); err != nil {
		return fmt.Errorf("put decision %d of group %s: %w", e.Seq, group, err)
	}
	return nil
}

// pruneJournal keeps the newest keep entries of a journal (decisions or
// operator events) and drops, from the oldest, those before cutoff. The age
// walk stops at the first recent entry: entries are appended in time order,
// so the rest are recent too (after the clock steps back, a few old ones may
// wait until the count bound takes them).
func pruneJournal(b *bucket, keep int, cutoff time.Time) error {
	if n := countKeys(b); n > keep {
		if err := deleteKeys(b, oldestKeys(b, n-keep)); err != nil {
			return err
		}
	}
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		// Decision entries and operator events both carry "time".
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode entry %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if !e.Time.Before(cutoff) {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	return deleteKeys(b, old)
}

// Decisions returns up to limit of the group's journal entries, newest
// first; limit <= 0 returns them all.
func (tx *Tx) Decisions(group string, limit int) ([]Entry, error) {
	b := tx.readSub(group, bucketDecisions)
	if b == nil {
		return nil, nil
	}
	var out []Entry
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		e, err := decodeEntry(k, v)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", group, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeEntry(k, v []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, fmt.Errorf("decode decision %d: %w", binary.BigEndian.Uint64(k), err)
	}
	return e, nil
}
