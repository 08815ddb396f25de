package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// GroupState is what ebb remembers about a group between ticks and restarts.
type GroupState struct {
	Desired   int       `json:"desired"`
	LastScale time.Time `json:"last_scale,omitzero"`
	LastUp    time.Time `json:"last_up,omitzero"`
	LastDown  time.Time `json:"last_down,omitzero"`
	Suspended Suspended `json:"suspended"`
	// Engine holds the engine's own memory (opaque JSON), so a restart keeps
	// stabilization windows.
	Engine json.RawMessage `json:"engine,omitempty"`
	// System is, for a group on a capacity provider, the desired count ebb
	// last left the system at, so a restarted ebb tells a count set while
	// it was down from its own.
	System *int `json:"system,omitempty"`
}

// Suspended says which of a group's actions an operator has paused.
type Suspended struct {
	Launch    bool `json:"launch"`
	Terminate bool `json:"terminate"`
}

// GroupState returns the group's state and whether any was stored.
func (tx *Tx) GroupState(group string) (GroupState, bool, error) {
	g := tx.readGroup(group)
	if g == nil {
		return GroupState{}, false, nil
	}
	v := g.Get(keyState)
	if v == nil {
		return GroupState{}, false, nil
	}
	st, err := tx.decodeState(group, v)
	if err != nil {
		return GroupState{}, false, err
	}
	return st, true, nil
}

// PutGroupState replaces the group's state.
func (tx *Tx) PutGroupState(group string, st GroupState) error {
	if len(st.Engine) > 0 && !json.Valid(st.Engine) {
		return fmt.Errorf("put state of group %s: engine memory is not valid JSON", group)
	}
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state of group %s: %w", group, err)
	}
	g, err := tx.writeGroup(group)
	if err != nil {
		return fmt.Errorf("put state of group %s: %w", group, err)
	}
	if err := g.Put(keyState, v); err != nil {
		return fmt.Errorf("put state of group %s: %w", group, err)
	}
	tx.putState(group, st, v)
	if !slices.Contains(tx.states, group) {
		tx.states = append(tx.states, group)
	}
	return nil
}

// Groups returns, sorted, the names of the groups that have a state or at
// least one instance. Groups with only a journal or signals are left out:
// they are not being managed, only remembered.
func (tx *Tx) Groups() ([]string, error) {
	groups := tx.root(bucketGroups)
	if groups == nil {
		return nil, nil
	}
	var names []string
	err := groups.ForEachBucket(func(name []byte) error {
		g := groups.Bucket(name)
		if g.Get(keyState) != nil {
			names = append(names, string(name))
			return nil
		}
		if inst := g.Bucket(bucketInstances); inst != nil {
			if k, _ := inst.Cursor().First(); k != nil {
				names = append(names, string(name))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	// bbolt iterates in byte order, which is already string order; sort
	// anyway so the promise does not rest on that.
	slices.Sort(names)
	return names, nil
}

// PutInstance creates or replaces an instance, keyed by its group and ID.
func (tx *Tx) PutInstance(inst model.Instance) error {
	var errs []error
	if inst.Group == "" {
		errs = append(errs, errEmptyGroupName)
	}
	if inst.ID == "" {
		errs = append(errs, errors.New("instance id is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("put instance %q in group %q: %w", inst.ID, inst.Group, err)
	}
	v, err := encodeInstance(inst)
	if err != nil {
		return fmt.Errorf("encode instance %s/%s: %w", inst.Group, inst.ID, err)
	}
	g, err := tx.writeGroup(inst.Group)
	if err != nil {
		return fmt.Errorf("put instance %s/%s: %w", inst.Group, inst.ID, err)
	}
	if err := g.Bucket(bucketInstances).Put([]byte(inst.ID), v); err != nil {
		return fmt.Errorf("put instance %s/%s: %w", inst.Group, inst.ID, err)
	}
	return nil
}

// encodeInstance is how the store writes an instance: model.Instance's
// JSON, with the times written through time.Time's MarshalText instead of
// its MarshalJSON, whose output encoding/json scans once more (a quarter
// of the time an instance took to encode). The times come after the other
// fields; a read takes the fields in any order, so it decodes exactly as
// json.Marshal(inst) would.
func encodeInstance(inst model.Instance) ([]byte, error) {
	return json.Marshal(instanceJSON{plainInstance(inst),
		textTime(inst.LaunchedAt), textTime(inst.ReadyAt), textTime(inst.StateSince), textTime(inst.HeartbeatAt)})
}

// instanceJSON is an instance as encodeInstance writes it: its fields
// shadow model.Instance's times, with the same names and options
// (TestTextTimesShadowTimes holds them to it).
type instanceJSON struct {
	plainInstance
	LaunchedAt  textTime `json:"launched_at"`
	ReadyAt     textTime `json:"ready_at,omitzero"`
	StateSince  textTime `json:"state_since"`
	HeartbeatAt textTime `json:"heartbeat_at,omitzero"`
}

// plainInstance is model.Instance without its methods.
type plainInstance model.Instance

// textTime is a time encoded as its text, RFC 3339 as time.Time's JSON.
type textTime time.Time

func (t textTime) MarshalText() ([]byte, error) { return time.Time(t).MarshalText() }
func (t textTime) IsZero() bool                 { return time.Time(t).IsZero() }

// Stored returns inst as a read returns it once PutInstance recorded it:
// decoded from its JSON, so times have lost their monotonic reading and
// are in UTC or in the zone of their offset, and strings are valid UTF-8.
// A record that decodes as itself (valid strings; UTC times without a
// monotonic reading, as a fake clock's are) is returned as it is, without
// encoding it. The result shares nothing mutable with inst.
func Stored(inst model.Instance) (model.Instance, error) {
	if decodesAsItself(inst) {
		if p := inst.Process; p != nil {
			cp := *p
			inst.Process = &cp
		}
		return inst, nil
	}
	v, err := encodeInstance(inst)
	if err != nil {
		return model.Instance{}, fmt.Errorf("encode instance %s/%s: %w", inst.Group, inst.ID, err)
	}
	var out model.Instance
	if err := json.Unmarshal(v, &out); err != nil {
		return model.Instance{}, fmt.Errorf("decode instance %s/%s: %w", inst.Group, inst.ID, err)
	}
	return out, nil
}

// decodesAsItself reports whether inst's JSON decodes to inst, field for
// field: every string is valid UTF-8 (JSON replaces invalid bytes) and
// every time is in UTC without a monotonic reading (JSON keeps neither a
// zone's name nor the reading). TestStoredIsTheDecodedRecord fails if a
// field of another kind is added to model.Instance.
func decodesAsItself(inst model.Instance) bool {
	return validUTF8(inst.ID, inst.Group, inst.Zone, inst.Addr, string(inst.State), inst.Reason, inst.Condition) &&
		plainUTC(inst.LaunchedAt, inst.ReadyAt, inst.StateSince, inst.HeartbeatAt)
}

// validUTF8 reports whether every string is valid UTF-8: JSON replaces
// invalid bytes.
func validUTF8(strs ...string) bool {
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// plainUTC reports whether every time is in UTC without a monotonic
// reading: JSON keeps neither a zone's name nor the reading.
func plainUTC(times ...time.Time) bool {
	for _, t := range times {
		if t != t.Round(0) || t.Location() != time.UTC {
			return false
		}
	}
	return true
}

// Instance returns one instance and whether it exists.
func (tx *Tx) Instance(group, id string) (model.Instance, bool, error) {
	b := tx.readSub(group, bucketInstances)
	if b == nil || id == "" {
		return model.Instance{}, false, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return model.Instance{}, false, nil
	}
	inst, err := tx.decodeInstance(group, []byte(id), v)
	if err != nil {
		return model.Instance{}, false, err
	}
	return inst, true, nil
}

// Instances returns the group's instances, oldest launch first and then by
// ID, so scale-in choices and listings are stable.
func (tx *Tx) Instances(group string) ([]model.Instance, error) {
	b := tx.readSub(group, bucketInstances)
	if b == nil {
		return nil, nil
	}
	out := make([]model.Instance, 0, tx.instancesHint(group))
	if err := tx.eachInstance(group, b, func(inst model.Instance) { out = append(out, inst) }); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b model.Instance) int {
		if c := a.LaunchedAt.Compare(b.LaunchedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteInstance removes an instance. Removing one that is not there is not
// an error: a resumed terminate may delete it a second time.
func (tx *Tx) DeleteInstance(group, id string) error {
	b := tx.readSub(group, bucketInstances)
	if b == nil || id == "" {
		return nil
	}
	if err := b.Delete([]byte(id)); err != nil {
		return fmt.Errorf("delete instance %s/%s: %w", group, id, err)
	}
	return nil
}
