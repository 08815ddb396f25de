package registry

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	registryclient "github.com/ebb-autoscaler/ebb/client/registry"
)

// ErrNotFound is returned for an app or instance the registry does not hold.
// For a renewal it tells the client to register again.
var ErrNotFound = errors.New("not registered")

// Defaults, as Eureka documents them.
const (
	DefaultLeaseDuration           = 90 * time.Second
	DefaultRenewalInterval         = 30 * time.Second
	DefaultEvictionInterval        = 60 * time.Second
	DefaultRenewalPercentThreshold = 0.85
	DefaultDeltaRetention          = 180 * time.Second
)

// Config tunes leases, eviction and self-preservation. Zero values take the
// defaults above.
type Config struct {
	// LeaseDuration is how long an instance stays after its last renewal
	// when its leaseInfo.durationInSecs is 0 (Eureka's lease expiration).
	LeaseDuration time.Duration
	// RenewalInterval is how often clients are expected to renew; it sets
	// the expected renewals per minute (Eureka's
	// expectedClientRenewalIntervalSeconds) and the renewalIntervalInSecs
	// reported for instances that sent none.
	RenewalInterval time.Duration
	// EvictionInterval is the period of RunEvictions.
	EvictionInterval time.Duration
	// RenewalPercentThreshold is the share of expected renewals below which
	// self-preservation stops eviction, and the share of the registry an
	// eviction pass must leave standing.
	RenewalPercentThreshold float64
	// DisableSelfPreservation lets eviction run whatever the renewal rate.
	DisableSelfPreservation bool
	// DeltaRetention is how long a change stays in the delta.
	DeltaRetention time.Duration
}

func (c Config) withDefaults() Config {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewalInterval == 0 {
		c.RenewalInterval = DefaultRenewalInterval
	}
	if c.EvictionInterval == 0 {
		c.EvictionInterval = DefaultEvictionInterval
	}
	if c.RenewalPercentThreshold == 0 {
		c.RenewalPercentThreshold = DefaultRenewalPercentThreshold
	}
	if c.DeltaRetention == 0 {
		c.DeltaRetention = DefaultDeltaRetention
	}
	return c
}

// Validate reports every out-of-range setting.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"lease_duration", c.LeaseDuration}, {"renewal_interval", c.RenewalInterval},
		{"eviction_interval", c.EvictionInterval}, {"delta_retention", c.DeltaRetention},
	} {
		if d.v < 0 || (d.v > 0 && d.v < time.Second) {
			errs = append(errs, fmt.Errorf("registry.%s: must be at least 1s, got %v", d.name, d.v))
		}
	}
	if c.RenewalInterval > 60*time.Second {
		errs = append(errs, fmt.Errorf("registry.renewal_interval: must be at most 1m (renewals are counted per minute), got %v", c.RenewalInterval))
	}
	if c.RenewalPercentThreshold < 0 || c.RenewalPercentThreshold >= 1 {
		errs = append(errs, fmt.Errorf("registry.renewal_percent_threshold: must be in (0, 1), got %v", c.RenewalPercentThreshold))
	}
	return errors.Join(errs...)
}

// Registry is Eureka's instance registry: apps of instances, each with a
// lease. Every method takes the time it happens at; nothing in it reads a
// clock. It is safe for concurrent use.
type Registry struct {
	cfg Config

	mu      sync.Mutex
	apps    map[string]map[string]*lease // app → instance id → lease
	renews  renewCounter
	changes []change // oldest first
	version int64    // bumped on every change

	// With a Saver (Persist), dirty holds the registrations changed since
	// the last Save; saveMu keeps saves in order.
	saver  Saver
	dirty  map[Key]bool
	saveMu sync.Mutex
}

// lease is one registered instance and the times that drive its lease.
type lease struct {
	info        Instance // as clients see it, except the lease timestamps
	duration    time.Duration
	registered  time.Time
	lastRenewal time.Time
	serviceUp   time.Time // zero until the instance is first UP
	override    Status    // "" when no status override is set
}

// change is one entry of the recent-changes queue.
type change struct {
	at   time.Time
	info Instance
}

// New returns an empty registry.
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg.withDefaults(), apps: map[string]map[string]*lease{}}, nil
}

// Config returns the registry's settings, defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Register adds an instance or replaces its registration, starting a new
// lease, and returns what clients will now see. A status override set
// earlier survives re-registration: an instance taken OUT_OF_SERVICE stays
// so when it registers again as UP. An instance reporting DOWN or STARTING
// keeps that status whatever the override, as in Eureka.
func (r *Registry) Register(now time.Time, app string, in Instance) (Instance, error) {
	in = clone(in)
	if err := validate(&in, app); err != nil {
		return Instance{}, fmt.Errorf("register %s: %w", normalizeApp(app), err)
	}
	reported, err := ParseStatus(string(in.Status))
	if err != nil {
		return Instance{}, fmt.Errorf("register %s/%s: instance.%w", in.App, in.ID(), err)
	}
	if reported == StatusUnknown && in.Status == "" {
		reported = StatusUp // a registrant without a status is taken as UP, as Eureka's builder does
	}
	asked, err := ParseStatus(string(in.OverriddenStatus))
	if err != nil {
		return Instance{}, fmt.Errorf("register %s/%s: instance.overridden%w", in.App, in.ID(), err)
	}
	if in.LastDirtyTimestamp <= 0 {
		in.LastDirtyTimestamp = millis(now)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	id := in.ID()
	leases := r.apps[in.App]
	if leases == nil {
		leases = map[string]*lease{}
		r.apps[in.App] = leases
	}
	old := leases[id]
	override := Status("")
	if old != nil {
		override = old.override
		// A registration older than what is held loses, as in Eureka: the
		// lease is new but the instance info stays.
		if old.info.LastDirtyTimestamp > in.LastDirtyTimestamp {
			in = clone(old.info)
			reported = old.info.Status
		}
	}
	if override == "" && asked != StatusUnknown {
		override = asked // a registrant may carry an override, as replicas do in Eureka
	}
	status := reported
	if override != "" && reported != StatusDown && reported != StatusStarting {
		status = override
	}
	in.Status = status
	in.OverriddenStatus = StatusUnknown
	if override != "" {
		in.OverriddenStatus = override
	}
	if in.LeaseInfo.RenewalIntervalInSecs == 0 {
		in.LeaseInfo.RenewalIntervalInSecs = int(r.cfg.RenewalInterval / time.Second)
	}
	duration := r.cfg.LeaseDuration
	if in.LeaseInfo.DurationInSecs > 0 {
		duration = time.Duration(in.LeaseInfo.DurationInSecs) * time.Second
	} else {
		in.LeaseInfo.DurationInSecs = int(duration / time.Second)
	}
	l := &lease{info: in, duration: duration, registered: now, lastRenewal: now, override: override}
	if old != nil {
		l.serviceUp = old.serviceUp
	}
	if status == StatusUp && l.serviceUp.IsZero() {
		l.serviceUp = now
	}
	leases[id] = l
	r.record(now, l, ActionAdded)
	return r.view(l), nil
}

// record stamps a change on the instance and queues it for deltas.
func (r *Registry) record(now time.Time, l *lease, action ActionType) {
	l.info.ActionType = action
	l.info.LastUpdatedTimestamp = millis(now)
	r.queue(now, l, action)
	r.markDirty(l.info.App, l.info.ID())
}

// queue adds the lease's present state to the recent-changes queue as a
// change of this action.
func (r *Registry) queue(now time.Time, l *lease, action ActionType) {
	r.version++
	r.pruneChanges(now)
	snap := r.view(l)
	snap.ActionType = action
	if action == ActionDeleted {
		snap.LeaseInfo.EvictionTimestamp = millis(now)
	}
	r.changes = append(r.changes, change{at: now, info: snap})
}

func (r *Registry) pruneChanges(now time.Time) {
	cut := 0
	for cut < len(r.changes) && now.Sub(r.changes[cut].at) > r.cfg.DeltaRetention {
		cut++
	}
	if cut > 0 {
		r.changes = append(r.changes[:0:0], r.changes[cut:]...)
	}
}

// view is the instance as clients see it: the info with lease timestamps.
func (r *Registry) view(l *lease) Instance {
	in := clone(l.info)
	in.LeaseInfo.RegistrationTimestamp = millis(l.registered)
	in.LeaseInfo.LastRenewalTimestamp = millis(l.lastRenewal)
	in.LeaseInfo.ServiceUpTimestamp = millis(l.serviceUp)
	in.LeaseInfo.EvictionTimestamp = 0
	return in
}

func (r *Registry) find(app, id string) *lease {
	return r.apps[normalizeApp(app)][id]
}

// RenewRequest is a heartbeat. LastDirtyTimestamp, when not 0, is the
// client's: a client holding newer info than the registry is told to
// register again.
type RenewRequest struct {
	App, ID            string
	LastDirtyTimestamp int64
}

// Renew extends an instance's lease. It returns ErrNotFound when the client
// must register (again): the instance is unknown, its status is UNKNOWN
// (an override was deleted without a new status), or the client's info is
// newer than the registry's.
func (r *Registry) Renew(now time.Time, req RenewRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(req.App, req.ID)
	if l == nil {
		return fmt.Errorf("renew %s/%s: %w", normalizeApp(req.App), req.ID, ErrNotFound)
	}
	if l.info.Status == StatusUnknown {
		return fmt.Errorf("renew %s/%s: status is UNKNOWN, register again: %w", l.info.App, req.ID, ErrNotFound)
	}
	r.renews.add(now)
	l.lastRenewal = now
	if req.LastDirtyTimestamp > l.info.LastDirtyTimestamp {
		return fmt.Errorf("renew %s/%s: the client's info (dirty at %d) is newer than the registry's (%d), register again: %w",
			l.info.App, req.ID, req.LastDirtyTimestamp, l.info.LastDirtyTimestamp, ErrNotFound)
	}
	return nil
}

// Cancel removes an instance (a client shutting down cleanly).
func (r *Registry) Cancel(now time.Time, app, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.remove(now, normalizeApp(app), id) {
		return fmt.Errorf("cancel %s/%s: %w", normalizeApp(app), id, ErrNotFound)
	}
	return nil
}

func (r *Registry) remove(now time.Time, app, id string) bool {
	l := r.apps[app][id]
	if l == nil {
		return false
	}
	r.drop(app, id)
	r.record(now, l, ActionDeleted)
	return true
}

// drop takes an instance out of the apps, and its app when it was the last.
func (r *Registry) drop(app, id string) {
	delete(r.apps[app], id)
	if len(r.apps[app]) == 0 {
		delete(r.apps, app)
	}
}

// StatusRequest sets or removes a status override.
type StatusRequest struct {
	App, ID string
	// Status is the override to set, or, when removing the override, the
	// status the instance takes (UNKNOWN if empty: the next renewal then
	// asks the client to register with its own status).
	Status             Status
	LastDirtyTimestamp int64
}

// SetStatusOverride sets an override (usually OUT_OF_SERVICE, to take an
// instance out of traffic, or UP to put it back; not UNKNOWN, which Eureka
// accepts and which would trap the instance in re-registrations). It renews the lease, and
// survives re-registration until removed or the instance is gone.
func (r *Registry) SetStatusOverride(now time.Time, req StatusRequest) error {
	st, err := ParseStatus(string(req.Status))
	switch {
	case err != nil:
	case req.Status == "":
		err = errors.New("status: missing")
	case st == StatusUnknown:
		// An UNKNOWN override would make every renewal ask for a
		// registration that the override then turns UNKNOWN again.
		err = errors.New("status: UNKNOWN cannot be an override; delete the override instead")
	}
	if err != nil {
		return fmt.Errorf("set status of %s/%s: %w", normalizeApp(req.App), req.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(req.App, req.ID)
	if l == nil {
		return fmt.Errorf("set status of %s/%s: %w", normalizeApp(req.App), req.ID, ErrNotFound)
	}
	l.lastRenewal = now
	changed := l.override != st || l.info.Status != st
	l.override = st
	if !changed {
		return nil
	}
	if st == StatusUp && l.serviceUp.IsZero() {
		l.serviceUp = now
	}
	l.info.Status = st
	l.info.OverriddenStatus = st
	l.info.LastDirtyTimestamp = max(l.info.LastDirtyTimestamp, req.LastDirtyTimestamp)
	r.record(now, l, ActionModified)
	return nil
}

// DeleteStatusOverride removes an override and gives the instance
// req.Status (UNKNOWN when empty). It renews the lease.
func (r *Registry) DeleteStatusOverride(now time.Time, req StatusRequest) error {
	st, err := ParseStatus(string(req.Status))
	if err != nil {
		return fmt.Errorf("delete status override of %s/%s: %w", normalizeApp(req.App), req.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(req.App, req.ID)
	if l == nil {
		return fmt.Errorf("delete status override of %s/%s: %w", normalizeApp(req.App), req.ID, ErrNotFound)
	}
	l.lastRenewal = now
	if l.override == "" {
		return nil // as in Eureka: nothing to remove, nothing changes
	}
	l.override = ""
	l.info.OverriddenStatus = StatusUnknown
	l.info.Status = st
	if st == StatusUp && l.serviceUp.IsZero() {
		l.serviceUp = now
	}
	l.info.LastDirtyTimestamp = max(l.info.LastDirtyTimestamp, req.LastDirtyTimestamp)
	r.record(now, l, ActionModified)
	return nil
}

// UpdateMetadata adds or replaces metadata entries of an instance.
func (r *Registry) UpdateMetadata(now time.Time, app, id string, kv map[string]string) error {
	if err := errors.Join(validateMetadataKeys("metadata", kv)...); err != nil {
		return fmt.Errorf("update metadata of %s/%s: %w", normalizeApp(app), id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(app, id)
	if l == nil {
		return fmt.Errorf("update metadata of %s/%s: %w", normalizeApp(app), id, ErrNotFound)
	}
	if len(kv) == 0 {
		return nil
	}
	if l.info.Metadata == nil {
		l.info.Metadata = map[string]string{}
	}
	for k, v := range kv {
		l.info.Metadata[k] = v
	}
	r.record(now, l, ActionModified)
	return nil
}

// Application is one app's instances, sorted by id; Applications is a
// registry snapshot (or a delta), apps sorted by name, with the registry's
// change count (VersionsDelta; clients keep it for logging only) and its
// reconcile hash code (AppsHashCode, see HashCode; in deltas too: a client
// that applied a delta compares it with its copy's, and fetches everything
// when they differ). Both are the public client's types.
type (
	Application  = registryclient.Application
	Applications = registryclient.Applications
)

// Applications returns every app and instance.
func (r *Registry) Applications() Applications {
	return r.applications(func(Instance) bool { return true })
}

// VIP returns the instances whose vipAddress (secure: secureVipAddress)
// is addr, grouped by app.
func (r *Registry) VIP(addr string, secure bool) Applications {
	return r.applications(func(in Instance) bool {
		if secure {
			return in.SecureVIPAddress == addr
		}
		return in.VIPAddress == addr
	})
}

func (r *Registry) applications(keep func(Instance) bool) Applications {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Applications{VersionsDelta: r.version, AppsHashCode: r.hashCodeLocked()}
	for name, leases := range r.apps {
		app := Application{Name: name}
		for _, l := range leases {
			if v := r.view(l); keep(v) {
				app.Instances = append(app.Instances, v)
			}
		}
		if len(app.Instances) > 0 {
			sortInstances(app.Instances)
			out.Apps = append(out.Apps, app)
		}
	}
	slices.SortFunc(out.Apps, func(a, b Application) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func sortInstances(ins []Instance) {
	slices.SortFunc(ins, func(a, b Instance) int { return cmp.Compare(a.ID(), b.ID()) })
}

// Application returns one app, or ErrNotFound.
func (r *Registry) Application(app string) (Application, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := normalizeApp(app)
	leases := r.apps[name]
	if len(leases) == 0 {
		return Application{}, fmt.Errorf("app %s: %w", name, ErrNotFound)
	}
	out := Application{Name: name}
	for _, l := range leases {
		out.Instances = append(out.Instances, r.view(l))
	}
	sortInstances(out.Instances)
	return out, nil
}

// Instance returns one instance of an app, or ErrNotFound.
func (r *Registry) Instance(app, id string) (Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.find(app, id)
	if l == nil {
		return Instance{}, fmt.Errorf("instance %s/%s: %w", normalizeApp(app), id, ErrNotFound)
	}
	return r.view(l), nil
}

// InstanceByID finds an instance by id in any app (the first app by name,
// if several hold the id), or returns ErrNotFound.
func (r *Registry) InstanceByID(id string) (Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.apps))
	for name := range r.apps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if l := r.apps[name][id]; l != nil {
			return r.view(l), nil
		}
	}
	return Instance{}, fmt.Errorf("instance %s: %w", id, ErrNotFound)
}

// Delta returns the instances changed within the retention window before
// now, each once, in its latest state, with the action of its last change
// (a DELETED instance is gone from the registry). AppsHashCode is the
// whole registry's.
func (r *Registry) Delta(now time.Time) Applications {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneChanges(now)
	type key struct{ app, id string }
	latest := map[key]Instance{}
	for _, c := range r.changes {
		latest[key{c.info.App, c.info.ID()}] = c.info
	}
	byApp := map[string][]Instance{}
	for k, in := range latest {
		byApp[k.app] = append(byApp[k.app], in)
	}
	out := Applications{VersionsDelta: r.version, AppsHashCode: r.hashCodeLocked()}
	for name, ins := range byApp {
		sortInstances(ins)
		out.Apps = append(out.Apps, Application{Name: name, Instances: ins})
	}
	slices.SortFunc(out.Apps, func(a, b Application) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// HashCode is Eureka's reconcile hash code of the registry: for each
// status present, sorted by name, the status, "_", its instance count,
// "_" — e.g. "OUT_OF_SERVICE_1_UP_3_". The empty registry's is "".
func (r *Registry) HashCode() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hashCodeLocked()
}

func (r *Registry) hashCodeLocked() string {
	counts := map[Status]int{}
	for _, leases := range r.apps {
		for _, l := range leases {
			counts[l.info.Status]++
		}
	}
	// The client package owns the computation: a client compares its
	// copy's hash code with this one, so the two must never drift apart.
	return registryclient.HashCode(counts)
}
