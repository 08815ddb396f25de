package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Sample is one value of a signal at a time.
type Sample struct {
	T time.Time
	V float64
}

// AppendSamples records each signal's value at t, then drops the group's
// samples, of every signal, older than t − Options.SignalAge. A signal
// keeps at most one sample per SignalAge ÷ SignalMax (90 s by default):
// a value closer than that to the last one kept is not recorded, so the
// history holds at most about SignalMax samples per signal however often
// the group is evaluated. A NaN or
// infinite value is an error and nothing is written: windows computed from
// the history would be poisoned by it.
func (tx *Tx) AppendSamples(group string, t time.Time, values map[string]float64) error {
	// Sorted so errors come out in a stable order.
	names := slices.Sorted(maps.Keys(values))
	var errs []error
	if group == "" {
		errs = append(errs, errEmptyGroupName)
	}
	if !inKeyRange(t) {
		errs = append(errs, fmt.Errorf("time %s: outside the years 1678–2262 the store can key", t.Format(time.RFC3339)))
	}
	for _, name := range names {
		switch v := values[name]; {
		case name == "":
			errs = append(errs, errors.New("signal name is empty"))
		case math.IsNaN(v) || math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("signal %s: value %v is not finite", name, v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("append samples to group %s: %w", group, err)
	}

	g, err := tx.writeGroup(group)
	if err != nil {
		return fmt.Errorf("append samples to group %s: %w", group, err)
	}
	signals := g.Bucket(bucketSignals)
	key := timeKey(t)
	spacing := tx.opt.SignalAge / time.Duration(tx.opt.SignalMax)
	for _, name := range names {
		b, err := signals.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return fmt.Errorf("create signal %s of group %s: %w", name, group, err)
		}
		b.FillPercent = appendFill
		if last, _ := b.Cursor().Last(); len(last) == 8 {
			if d := t.Sub(keyTime(last)); d > 0 && d < spacing {
				continue
			}
		}
		v := binary.BigEndian.AppendUint64(nil, math.Float64bits(values[name]))
		if err := b.Put(key, v); err != nil {
			return fmt.Errorf("put sample of signal %s in group %s: %w", name, group, err)
		}
	}
	if err := pruneSamples(signals, t.Add(-tx.opt.SignalAge)); err != nil {
		return fmt.Errorf("prune samples of group %s: %w", group, err)
	}
	return nil
}

// pruneSamples drops samples before cutoff from every signal, and the
// signals left with none, so a signal removed from the config does not stay
// in the file forever.
func pruneSamples(signals *bucket, cutoff time.Time) error {
	if !inKeyRange(cutoff) {
		return nil // before 1678: nothing can be older
	}
	cut := timeKey(cutoff)
	var empty [][]byte
	err := signals.ForEachBucket(func(name []byte) error {
		b := signals.Bucket(name)
		var old [][]byte
		c := b.Cursor()
		k, _ := c.First()
		for ; k != nil && bytes.Compare(k, cut) < 0; k, _ = c.Next() {
			old = append(old, bytes.Clone(k))
		}
		if k == nil {
			empty = append(empty, bytes.Clone(name))
			return nil
		}
		return deleteKeys(b, old)
	})
	if err != nil {
		return err
	}
	// Deleted after the walk: ForEachBucket must not see its bucket change.
	for _, name := range empty {
		if err := signals.DeleteBucket(name); err != nil {
			return fmt.Errorf("delete signal %s: %w", name, err)
		}
	}
	return nil
}

// Samples returns the signal's samples at or after since, oldest first.
func (tx *Tx) Samples(group, signal string, since time.Time) ([]Sample, error) {
	signals := tx.readSub(group, bucketSignals)
	if signals == nil || signal == "" {
		return nil, nil
	}
	b := signals.Bucket([]byte(signal))
	if b == nil || since.After(maxKeyTime) {
		return nil, nil
	}
	var out []Sample
	c := b.Cursor()
	var k, v []byte
	if since.Before(minKeyTime) {
		k, v = c.First()
	} else {
		k, v = c.Seek(timeKey(since))
	}
	for ; k != nil; k, v = c.Next() {
		if len(k) != 8 || len(v) != 8 {
			return nil, fmt.Errorf("signal %s of group %s: malformed sample (%d-byte key, %d-byte value)", signal, group, len(k), len(v))
		}
		out = append(out, Sample{T: keyTime(k), V: math.Float64frombits(binary.BigEndian.Uint64(v))})
	}
	return out, nil
}
