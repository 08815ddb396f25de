package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// IntentKind is the action an intent records.
type IntentKind string

// Intent kinds.
const (
	IntentLaunch    IntentKind = "launch"
	IntentDrain     IntentKind = "drain"
	IntentTerminate IntentKind = "terminate"
)

func (k IntentKind) valid() bool {
	return k == IntentLaunch || k == IntentDrain || k == IntentTerminate
}

// Intent is an action ebb wrote down before taking it. An open (not done)
// intent after a restart is an action that may or may not have happened: the
// daemon checks and finishes it.
type Intent struct {
	// Seq is assigned by AddIntent, increasing across all groups, so an
	// intent is found by Seq alone.
	Seq      uint64     `json:"seq"`
	Group    string     `json:"group"`
	Instance string     `json:"instance"`
	Kind     IntentKind `json:"kind"`
	Created  time.Time  `json:"created"`
	Done     bool       `json:"done"`
	DoneAt   time.Time  `json:"done_at,omitzero"`
	Result   string     `json:"result,omitempty"`
}

// AddIntent records a new open intent and returns it with its Seq.
func (tx *Tx) AddIntent(in Intent) (Intent, error) {
	var errs []error
	if in.Group == "" {
		errs = append(errs, errEmptyGroupName)
	}
	if in.Instance == "" {
		errs = append(errs, errors.New("instance id is empty"))
	}
	if !in.Kind.valid() {
		errs = append(errs, fmt.Errorf("kind %q: must be %s, %s or %s", in.Kind, IntentLaunch, IntentDrain, IntentTerminate))
	}
	if in.Created.IsZero() {
		errs = append(errs, errors.New("created time is zero"))
	}
	// A caller passing these expects an update, which AddIntent is not.
	if in.Seq != 0 {
		errs = append(errs, fmt.Errorf("seq %d is set: the store assigns it", in.Seq))
	}
	if in.Done || !in.DoneAt.IsZero() || in.Result != "" {
		errs = append(errs, errors.New("a new intent cannot be done"))
	}
	if err := errors.Join(errs...); err != nil {
		return Intent{}, fmt.Errorf("add %s intent for %s/%s: %w", in.Kind, in.Group, in.Instance, err)
	}

	index := tx.root(bucketIntentGroups)
	if index == nil {
		return Intent{}, fmt.Errorf("bucket %s is missing", bucketIntentGroups)
	}
	g, err := tx.writeGroup(in.Group)
	if err != nil {
		return Intent{}, fmt.Errorf("add %s intent for %s/%s: %w", in.Kind, in.Group, in.Instance, err)
	}
	seq, err := index.NextSequence()
	if err != nil {
		return Intent{}, fmt.Errorf("assign intent seq: %w", err)
	}
	in.Seq = seq
	key := u64key(seq)
	if err := index.Put(key, []byte(in.Group)); err != nil {
		return Intent{}, fmt.Errorf("index intent %d: %w", seq, err)
	}
	if err := g.Bucket(bucketOpen).Put(key, nil); err != nil {
		return Intent{}, fmt.Errorf("mark intent %d open: %w", seq, err)
	}
	v, err := putIntent(g.Bucket(bucketIntents), in)
	if err != nil {
		return Intent{}, err
	}
	tx.addedIntent(in, v)
	return in, nil
}

// FinishIntent marks an open intent done at now with its result. An unknown
// seq, or one already done, is an error: the caller lost track of its work.
func (tx *Tx) FinishIntent(seq uint64, now time.Time, result string) error {
	if now.IsZero() {
		return fmt.Errorf("finish intent %d: finish time is zero", seq)
	}
	index := tx.root(bucketIntentGroups)
	if index == nil {
		return fmt.Errorf("bucket %s is missing", bucketIntentGroups)
	}
	key := u64key(seq)
	group := index.Get(key)
	if group == nil {
		return fmt.Errorf("finish intent %d: no such intent", seq)
	}
	g := tx.readGroup(string(group))
	if g == nil {
		return fmt.Errorf("finish intent %d: group %s is missing", seq, group)
	}
	intents := g.Bucket(bucketIntents)
	in, err := tx.getIntent(intents, key)
	if err != nil {
		return err
	}
	if in.Done {
		return fmt.Errorf("finish intent %d: already done at %s (%s)", seq, in.DoneAt.Format(time.RFC3339Nano), in.Result)
	}
	in.Done, in.DoneAt, in.Result = true, now, result
	if _, err := putIntent(intents, in); err != nil {
		return err
	}
	tx.finishedIntent(seq)
	open := g.Bucket(bucketOpen)
	if err := open.Delete(key); err != nil {
		return fmt.Errorf("finish intent %d: %w", seq, err)
	}
	if err := pruneDone(intents, open, index, tx.opt.JournalMax); err != nil {
		return fmt.Errorf("prune intents of group %s: %w", group, err)
	}
	return nil
}

// pruneDone drops the oldest done intents of a group beyond keep. Open ones
// stay whatever their age: they are work not yet accounted for.
//
// Both buckets are keyed by seq, so the done ones are found by walking
// them side by side, not by looking each intent up among the open: it runs
// at every finish, over up to keep intents.
func pruneDone(intents, open, index *bucket, keep int) error {
	done := 0
	walkDone(intents, open, func([]byte) bool { done++; return true })
	if done <= keep {
		return nil
	}
	drop := make([][]byte, 0, done-keep)
	walkDone(intents, open, func(k []byte) bool {
		// Copy before deleting: k points into the bucket's pages.
		drop = append(drop, bytes.Clone(k))
		return len(drop) < cap(drop)
	})
	if err := deleteKeys(intents, drop); err != nil {
		return err
	}
	return deleteKeys(index, drop)
}

// walkDone calls fn with the key of each intent not in open, oldest
// first, while fn returns true.
func walkDone(intents, open *bucket, fn func(k []byte) bool) {
	oc := open.Cursor()
	o, _ := oc.First()
	c := intents.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		for o != nil && bytes.Compare(o, k) < 0 {
			o, _ = oc.Next()
		}
		if o != nil && bytes.Equal(o, k) {
			continue
		}
		if !fn(k) {
			return
		}
	}
}

// OpenIntents returns the group's intents that are not done, oldest first:
// the order they were decided in is the order to resume them.
func (tx *Tx) OpenIntents(group string) ([]Intent, error) {
	g := tx.readGroup(group)
	if g == nil {
		return nil, nil
	}
	intents := g.Bucket(bucketIntents)
	var out []Intent
	c := g.Bucket(bucketOpen).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		in, err := tx.getIntent(intents, k)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Intents returns up to limit of the group's intents, done or not, newest
// first; limit <= 0 returns them all.
func (tx *Tx) Intents(group string, limit int) ([]Intent, error) {
	b := tx.readSub(group, bucketIntents)
	if b == nil {
		return nil, nil
	}
	var out []Intent
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		in, err := decodeIntent(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// putIntent stores in and returns the bytes it stored.
func putIntent(b *bucket, in Intent) ([]byte, error) {
	v, err := encodeIntent(in)
	if err != nil {
		return nil, fmt.Errorf("encode intent %d: %w", in.Seq, err)
	}
	if err := b.Put(u64key(in.Seq), v); err != nil {
		return nil, fmt.Errorf("put intent %d: %w", in.Seq, err)
	}
	return v, nil
}

func (tx *Tx) getIntent(b *bucket, key []byte) (Intent, error) {
	v := b.Get(key)
	if v == nil {
		return Intent{}, fmt.Errorf("intent %d is indexed but missing", binary.BigEndian.Uint64(key))
	}
	return tx.decodeIntent(key, v)
}

// decodesAsItself reports whether in's JSON decodes to in, field for
// field: as Stored says of an instance, strings valid UTF-8 and times in
// UTC without a monotonic reading.
// TestIntentDecodesAsItself fails if a field of another kind is added.
func (in Intent) decodesAsItself() bool {
	return validUTF8(in.Group, in.Instance, string(in.Kind), in.Result) && plainUTC(in.Created, in.DoneAt)
}

// encodeIntent is how the store writes an intent: its JSON with its times
// as text, as encodeInstance writes an instance's; it decodes exactly as
// json.Marshal(in) would.
func encodeIntent(in Intent) ([]byte, error) {
	return json.Marshal(intentJSON{plainIntent(in), textTime(in.Created), textTime(in.DoneAt)})
}

// intentJSON is an intent as encodeIntent writes it.
type intentJSON struct {
	plainIntent
	Created textTime `json:"created"`
	DoneAt  textTime `json:"done_at,omitzero"`
}

// plainIntent is Intent without its methods.
type plainIntent Intent

func decodeIntent(key, v []byte) (Intent, error) {
	var in Intent
	if err := json.Unmarshal(v, &in); err != nil {
		return Intent{}, fmt.Errorf("decode intent %d: %w", binary.BigEndian.Uint64(key), err)
	}
	return in, nil
}
