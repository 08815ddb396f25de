package registry

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Key names one registration.
type Key struct{ App, ID string }

// Saver keeps registrations durably (ebb's store). It is handed every
// registration changed since the last save: put holds each one's latest
// state, deleted those gone (cancelled or evicted). A save either keeps
// all of them or returns an error, and the same changes come again with
// the next save.
type Saver interface {
	SaveRegistrations(put []Instance, deleted []Key) error
}

// ErrNotSaved wraps a save that failed: the change is made in memory and
// will be saved with the next one, but was not saved before being answered.
var ErrNotSaved = errors.New("registry change not saved")

// Persist makes r keep its registrations through s: from now on every
// change (register, cancel, eviction, status or metadata; not renewals,
// whose lease times are not kept) is marked, and Save hands the marked
// ones to s. Call it once, before the registry is used.
func (r *Registry) Persist(s Saver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saver = s
	r.dirty = map[Key]bool{}
}

// Save hands the changes made since the last successful save to the Saver
// (nothing without one). Saves run one at a time, each with the state of
// its moment, so the store never goes back to an older state. When the
// Saver fails, the changes stay marked for the next save.
func (r *Registry) Save() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	if r.saver == nil || len(r.dirty) == 0 {
		r.mu.Unlock()
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(r.dirty), compareKeys)
	clear(r.dirty)
	var put []Instance
	var deleted []Key
	for _, k := range keys {
		if l := r.apps[k.App][k.ID]; l != nil {
			put = append(put, r.view(l))
		} else {
			deleted = append(deleted, k)
		}
	}
	saver := r.saver
	r.mu.Unlock()
	if err := saver.SaveRegistrations(put, deleted); err != nil {
		r.mu.Lock()
		for _, k := range keys {
			r.dirty[k] = true
		}
		r.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrNotSaved, err)
	}
	return nil
}

func compareKeys(a, b Key) int { return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.ID, b.ID)) }

// markDirty notes a changed registration for the next Save. r.mu held.
func (r *Registry) markDirty(app, id string) {
	if r.dirty != nil {
		r.dirty[Key{app, id}] = true
	}
}

// Load makes the registry hold exactly ins (as a Saver saved them, or as
// another replica's store holds them), recording the difference as
// changes so that clients' deltas see it. Every lease loaded starts anew
// at now: renewal times are not kept, so a restarted or newly leading ebb
// gives each instance a whole lease to renew in, as a Eureka server
// starting from a peer's registry does. Status overrides, registration
// and service-up times are kept. Nothing loaded is marked for saving.
// Invalid records are skipped and reported together; the valid ones load.
func (r *Registry) Load(now time.Time, ins []Instance) error {
	var errs []error
	want := map[Key]Instance{}
	for _, in := range ins {
		in = clone(in)
		if err := validate(&in, in.App); err != nil {
			errs = append(errs, fmt.Errorf("load %s/%s: %w", in.App, in.ID(), err))
			continue
		}
		want[Key{in.App, in.ID()}] = in
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for app, leases := range r.apps {
		for id, l := range leases {
			if _, ok := want[Key{app, id}]; !ok {
				r.drop(app, id)
				r.queue(now, l, ActionDeleted)
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), compareKeys) {
		in := want[k]
		old := r.apps[k.App][k.ID]
		l := loadedLease(now, in, r.cfg.LeaseDuration)
		if old != nil && sameRegistration(old.info, l.info) {
			old.lastRenewal = now
			continue
		}
		if r.apps[k.App] == nil {
			r.apps[k.App] = map[string]*lease{}
		}
		r.apps[k.App][k.ID] = l
		action := ActionAdded
		if old != nil {
			action = ActionModified
		}
		// The info keeps the saving replica's action and update time;
		// only the queue says what changed here.
		r.queue(now, l, action)
	}
	return errors.Join(errs...)
}

// loadedLease rebuilds a lease from the instance a Saver kept.
func loadedLease(now time.Time, in Instance, fallback time.Duration) *lease {
	l := &lease{duration: fallback, registered: fromMillis(in.LeaseInfo.RegistrationTimestamp), lastRenewal: now,
		serviceUp: fromMillis(in.LeaseInfo.ServiceUpTimestamp)}
	if in.LeaseInfo.DurationInSecs > 0 {
		l.duration = time.Duration(in.LeaseInfo.DurationInSecs) * time.Second
	}
	if in.OverriddenStatus != "" && in.OverriddenStatus != StatusUnknown {
		l.override = in.OverriddenStatus
	}
	in.LeaseInfo.RegistrationTimestamp, in.LeaseInfo.LastRenewalTimestamp = 0, 0
	in.LeaseInfo.ServiceUpTimestamp, in.LeaseInfo.EvictionTimestamp = 0, 0
	l.info = in
	return l
}

// sameRegistration compares two infos apart from the lease times, which
// view fills in (an empty map and none are the same).
func sameRegistration(a, b Instance) bool {
	if !maps.Equal(a.Metadata, b.Metadata) || !maps.Equal(a.DataCenterInfo.Metadata, b.DataCenterInfo.Metadata) {
		return false
	}
	for _, in := range []*Instance{&a, &b} {
		in.Metadata, in.DataCenterInfo.Metadata = nil, nil
		in.LeaseInfo.RegistrationTimestamp, in.LeaseInfo.LastRenewalTimestamp = 0, 0
		in.LeaseInfo.ServiceUpTimestamp, in.LeaseInfo.EvictionTimestamp = 0, 0
	}
	return reflect.DeepEqual(a, b)
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// LeaseState is what the fleet reads of one instance's registration.
type LeaseState struct {
	Status Status
	// Expired: no renewal came within the lease duration; the instance is
	// evicted by the next pass unless self-preservation holds it.
	Expired bool
	// SelfPreservation is on: so many leases lapsed at once that the
	// registry takes it for a network partition and evicts nothing.
	SelfPreservation bool
}

// Lease returns the state of an instance's lease at now, or ErrNotFound.
func (r *Registry) Lease(now time.Time, app, id string) (LeaseState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(app, id)
	if l == nil {
		return LeaseState{}, fmt.Errorf("instance %s/%s: %w", normalizeApp(app), id, ErrNotFound)
	}
	return LeaseState{
		Status:           l.info.Status,
		Expired:          now.After(l.lastRenewal.Add(l.duration)),
		SelfPreservation: r.selfPreservationLocked(now).Active,
	}, nil
}

// TakeOut sets an instance's status override to OUT_OF_SERVICE and saves
// it, for ebb's own drains: clients stop sending it requests once they
// refresh. An instance not registered is no error (clients cannot have
// it), nor is one already out.
func (r *Registry) TakeOut(now time.Time, app, id string) error {
	err := r.SetStatusOverride(now, StatusRequest{App: app, ID: id, Status: StatusOutOfService})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.Save()
}

// Forget cancels an instance's registration and saves that, for instances
// ebb stopped. An instance not registered is no error.
func (r *Registry) Forget(now time.Time, app, id string) error {
	err := r.Cancel(now, app, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.Save()
}
