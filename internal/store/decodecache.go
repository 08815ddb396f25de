package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// decodeCache keeps each instance, and each group's state, as the store
// last decoded it, beside the bytes it was decoded from. A reconcile reads
// every instance of its group, often several times, and its state, and
// most are unchanged since the last read: finding the same bytes again, a
// read copies the decoded value instead of decoding JSON. Keyed on the
// stored bytes, it is never stale: a write changes the bytes, and the next
// read decodes them. Entries of instances no longer stored go at the next
// read of their whole group.
//
// It also keeps the open intents this process added, as AddIntent encoded
// them, by seq: an open intent is read back soon after it is added (the
// fleet reads a group's open intents after each write that changes them,
// and FinishIntent reads the intent it closes), and finding the bytes it
// wrote, a read decodes nothing. An entry goes when FinishIntent closes
// its intent.
type decodeCache struct {
	mu      sync.Mutex
	groups  map[string]*groupCache
	intents map[uint64]cachedIntent
}

type cachedIntent struct {
	raw []byte
	in  Intent
}

type groupCache struct {
	// stateWrites counts the Updates that wrote the group's state
	// (StateVersion).
	stateWrites uint64
	gen         uint64 // counts whole-group reads
	insts       map[string]*cachedInstance
	// state is the group's state as last decoded from stateRaw.
	stateRaw []byte
	state    GroupState
}

type cachedInstance struct {
	raw  []byte
	inst model.Instance
	gen  uint64 // the last whole-group read that found it
}

func newDecodeCache() *decodeCache {
	return &decodeCache{groups: map[string]*groupCache{}, intents: map[uint64]cachedIntent{}}
}

func (c *decodeCache) group(name string) *groupCache {
	g := c.groups[name]
	if g == nil {
		g = &groupCache{insts: map[string]*cachedInstance{}}
		c.groups[name] = g
	}
	return g
}

// decode returns the instance stored as v under key k of group g.
func (g *groupCache) decode(group string, k, v []byte) (model.Instance, error) {
	if e := g.insts[string(k)]; e != nil && bytes.Equal(e.raw, v) {
		e.gen = g.gen
		return e.copy(), nil
	}
	var inst model.Instance
	if err := json.Unmarshal(v, &inst); err != nil {
		return model.Instance{}, fmt.Errorf("decode instance %s/%s: %w", group, k, err)
	}
	// v points into the file's pages, valid only in its transaction.
	e := &cachedInstance{raw: bytes.Clone(v), inst: inst, gen: g.gen}
	g.insts[string(k)] = e
	return e.copy(), nil
}

// copy returns the instance sharing nothing mutable with the cache.
func (e *cachedInstance) copy() model.Instance {
	inst := e.inst
	if p := inst.Process; p != nil {
		cp := *p
		inst.Process = &cp
	}
	return inst
}

// sweep drops the entries the whole-group read that just ended did not
// find.
func (g *groupCache) sweep() {
	for k, e := range g.insts {
		if e.gen != g.gen {
			delete(g.insts, k)
		}
	}
}

// decodeInstance decodes one stored instance, through the store's cache
// when the transaction has one.
func (tx *Tx) decodeInstance(group string, k, v []byte) (model.Instance, error) {
	if tx.dec == nil {
		var inst model.Instance
		if err := json.Unmarshal(v, &inst); err != nil {
			return model.Instance{}, fmt.Errorf("decode instance %s/%s: %w", group, k, err)
		}
		return inst, nil
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	g := tx.dec.group(group)
	return g.decode(group, k, v)
}

// instancesHint is how many instances the group had at its last read
// through the cache: room to read them into.
func (tx *Tx) instancesHint(group string) int {
	if tx.dec == nil {
		return 0
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	if g := tx.dec.groups[group]; g != nil {
		return len(g.insts)
	}
	return 0
}

// eachInstance calls fn with each stored instance of the group's bucket b,
// decoded through the store's cache when the transaction has one.
func (tx *Tx) eachInstance(group string, b *bucket, fn func(model.Instance)) error {
	if tx.dec == nil {
		return b.ForEach(func(k, v []byte) error {
			inst, err := tx.decodeInstance(group, k, v)
			if err != nil {
				return err
			}
			fn(inst)
			return nil
		})
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	g := tx.dec.group(group)
	g.gen++
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		inst, err := g.decode(group, k, v)
		if err != nil {
			return err
		}
		n++
		fn(inst)
		return nil
	})
	if err == nil && len(g.insts) > n {
		g.sweep()
	}
	return err
}

// decodeState decodes the group's stored state v, through the store's
// cache when the transaction has one.
func (tx *Tx) decodeState(group string, v []byte) (GroupState, error) {
	if tx.dec == nil {
		return unmarshalState(group, v)
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	g := tx.dec.group(group)
	if g.stateRaw == nil || !bytes.Equal(g.stateRaw, v) {
		st, err := unmarshalState(group, v)
		if err != nil {
			return GroupState{}, err
		}
		g.stateRaw, g.state = bytes.Clone(v), st
	}
	// Shares nothing a caller can change with the cache.
	st := g.state
	st.Engine = bytes.Clone(st.Engine)
	if st.System != nil {
		n := *st.System
		st.System = &n
	}
	return st, nil
}

// putState remembers the state PutGroupState stored as raw, when decoding
// raw returns it as it is, so the next read decodes nothing: times in UTC
// without a monotonic reading, and no engine memory (the encoder compacts
// and escapes it). raw is not changed afterwards: the file holds it until
// the commit.
func (tx *Tx) putState(group string, st GroupState, raw []byte) {
	if tx.dec == nil || len(st.Engine) > 0 || !plainUTC(st.LastScale, st.LastUp, st.LastDown) {
		return
	}
	st.Engine = nil // as an empty one decodes
	if st.System != nil {
		n := *st.System
		st.System = &n
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	g := tx.dec.group(group)
	g.stateRaw, g.state = raw, st
}

func unmarshalState(group string, v []byte) (GroupState, error) {
	var st GroupState
	if err := json.Unmarshal(v, &st); err != nil {
		return GroupState{}, fmt.Errorf("decode state of group %s: %w", group, err)
	}
	return st, nil
}

// addedIntent remembers an intent AddIntent stored as raw, when decoding
// raw returns it as it is (decodesAsItself): otherwise a read decodes it.
// raw is not changed afterwards: the file holds it until the commit.
func (tx *Tx) addedIntent(in Intent, raw []byte) {
	if tx.dec == nil || !in.decodesAsItself() {
		return
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	tx.dec.intents[in.Seq] = cachedIntent{raw: raw, in: in}
}

// finishedIntent forgets an intent FinishIntent closed: its stored bytes
// changed, and a done intent is seldom read.
func (tx *Tx) finishedIntent(seq uint64) {
	if tx.dec == nil {
		return
	}
	tx.dec.mu.Lock()
	defer tx.dec.mu.Unlock()
	delete(tx.dec.intents, seq)
}

// decodeIntent decodes the intent stored as v under key, from the cache
// when v is the bytes AddIntent stored.
func (tx *Tx) decodeIntent(key, v []byte) (Intent, error) {
	if tx.dec != nil && len(key) == 8 {
		tx.dec.mu.Lock()
		e, ok := tx.dec.intents[binary.BigEndian.Uint64(key)]
		tx.dec.mu.Unlock()
		if ok && bytes.Equal(e.raw, v) {
			return e.in, nil
		}
	}
	return decodeIntent(key, v)
}

// statesWritten counts a write of each group's state, once the Update
// that wrote them is in.
func (c *decodeCache) statesWritten(groups []string) {
	if len(groups) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range groups {
		c.group(g).stateWrites++
	}
}

// stateWrites returns how many Updates wrote the group's state.
func (c *decodeCache) stateWrites(group string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[group]; g != nil {
		return g.stateWrites
	}
	return 0
}
