package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// cache is the client's copy of the registry.
type cache struct {
	refreshing chan struct{} // holds a token while a refresh runs

	mu      sync.Mutex
	fetched bool
	apps    map[string]map[string]Instance // app → instance id → instance
	version int64
	hash    string                // the registry's, as last fetched
	up      map[string][]Instance // app → UP instances, sorted by id
	next    map[string]uint64     // app → round-robin position
	err     error                 // of the last refresh
}

// RefreshKind says how Refresh updated the cache.
type RefreshKind int

// How a refresh went.
const (
	// RefreshFull fetched the whole registry (GET /apps): the first
	// refresh, or one whose delta left the cache's hash code different
	// from the registry's, or whose delta the registry would not serve.
	RefreshFull RefreshKind = iota + 1
	// RefreshDelta applied the recent changes (GET /apps/delta).
	RefreshDelta
)

func (k RefreshKind) String() string {
	switch k {
	case RefreshFull:
		return "full"
	case RefreshDelta:
		return "delta"
	}
	return "none"
}

// Refresh brings the cache up to date: the first time with the whole
// registry (GET /apps), then with its recent changes (GET /apps/delta),
// applied in order: ADDED and MODIFIED replace an instance, DELETED removes
// it. When the cache's hash code then differs from the one the registry
// sent (changes came and went before the delta saw them, or a delta was
// missed), Refresh fetches the whole registry instead. On failure the cache
// stays as it was, and Err reports the failure until a refresh succeeds.
func (c *Client) Refresh(ctx context.Context) (RefreshKind, error) {
	kind, err := c.refresh(ctx)
	c.cache.mu.Lock()
	c.cache.err = err
	c.cache.mu.Unlock()
	return kind, err
}

func (c *Client) refresh(ctx context.Context) (RefreshKind, error) {
	// One refresh at a time: an older answer must not overwrite a newer.
	select {
	case c.cache.refreshing <- struct{}{}:
		defer func() { <-c.cache.refreshing }()
	case <-ctx.Done():
		return 0, fmt.Errorf("refresh registry cache: wait for the refresh under way: %w", ctx.Err())
	}
	c.cache.mu.Lock()
	fetched := c.cache.fetched
	c.cache.mu.Unlock()
	if fetched {
		delta, err := c.fetch(ctx, "/apps/delta")
		switch {
		case errors.Is(err, ErrUnavailable):
			return 0, fmt.Errorf("refresh registry cache: %w", err)
		case err != nil:
			// A server that serves no deltas (Eureka's disableDelta answers
			// 403) or a delta that cannot be read: the whole registry will do.
			c.log.Debug("registry delta failed, fetching the registry whole", "err", err)
		case c.cache.applyDelta(delta):
			return RefreshDelta, nil
		default:
			c.log.Debug("registry cache differs from the registry after a delta, fetching it whole",
				"hashcode", delta.AppsHashCode)
		}
	}
	full, err := c.fetch(ctx, "/apps")
	if err != nil {
		return 0, fmt.Errorf("refresh registry cache: %w", err)
	}
	c.cache.replace(full)
	return RefreshFull, nil
}

func (c *Client) fetch(ctx context.Context, path string) (Applications, error) {
	a, err := c.call(ctx, http.MethodGet, path, nil)
	if err == nil {
		err = a.expect(http.StatusOK)
	}
	if err != nil {
		return Applications{}, err
	}
	apps, err := decodeApplications(a.body)
	if err != nil {
		return Applications{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return apps, nil
}

// replace makes full the cache's content.
func (c *cache) replace(full Applications) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apps = map[string]map[string]Instance{}
	for _, app := range full.Apps {
		for _, in := range app.Instances {
			c.putLocked(in)
		}
	}
	c.fetched, c.version, c.hash = true, full.VersionsDelta, full.AppsHashCode
	c.reindexLocked()
}

// applyDelta applies a delta and reports whether the cache's hash code
// then matches the registry's. When it does not, the cache is left as it
// was: a full fetch follows.
func (c *cache) applyDelta(delta Applications) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	apps := make(map[string]map[string]Instance, len(c.apps))
	for name, ins := range c.apps {
		apps[name] = make(map[string]Instance, len(ins))
		for id, in := range ins {
			apps[name][id] = in
		}
	}
	old := c.apps
	c.apps = apps
	for _, app := range delta.Apps {
		for _, in := range app.Instances {
			if in.ActionType == ActionDeleted {
				c.removeLocked(in)
				continue
			}
			c.putLocked(in) // ADDED, MODIFIED (or no action: take it as is)
		}
	}
	if c.hashCodeLocked() != delta.AppsHashCode {
		c.apps = old
		return false
	}
	c.version, c.hash = delta.VersionsDelta, delta.AppsHashCode
	c.reindexLocked()
	return true
}

func (c *cache) putLocked(in Instance) {
	ins := c.apps[in.App]
	if ins == nil {
		ins = map[string]Instance{}
		c.apps[in.App] = ins
	}
	ins[in.ID()] = in
}

func (c *cache) removeLocked(in Instance) {
	delete(c.apps[in.App], in.ID())
	if len(c.apps[in.App]) == 0 {
		delete(c.apps, in.App)
	}
}

func (c *cache) hashCodeLocked() string {
	counts := map[Status]int{}
	for _, ins := range c.apps {
		for _, in := range ins {
			counts[in.Status]++
		}
	}
	return HashCode(counts)
}

// reindexLocked rebuilds the UP lists Next walks.
func (c *cache) reindexLocked() {
	c.up = map[string][]Instance{}
	for name, ins := range c.apps {
		for _, in := range ins {
			if in.Status == StatusUp {
				c.up[name] = append(c.up[name], in)
			}
		}
		sortInstances(c.up[name])
	}
	if c.next == nil {
		c.next = map[string]uint64{}
	}
}

func sortInstances(ins []Instance) {
	slices.SortFunc(ins, func(a, b Instance) int { return cmp.Compare(a.ID(), b.ID()) })
}

// Next returns the app's next UP instance in round-robin order over the
// cache, so that calls spread evenly over the app's UP instances (those
// DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN get none). It makes no call:
// it serves from the cache even while the registry is unreachable. It
// returns ErrNoInstance when the cache holds no UP instance of app.
func (c *Client) Next(app string) (Instance, error) {
	ins, err := c.cache.take(normalizeApp(app), 1)
	if err != nil {
		return Instance{}, err
	}
	return ins[0], nil
}

// take returns up to n of the app's UP instances, starting at the
// round-robin position, which it moves on by one.
func (c *cache) take(app string, n int) ([]Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	up := c.up[app]
	if len(up) == 0 {
		return nil, fmt.Errorf("app %s: %w", app, ErrNoInstance)
	}
	start := c.next[app]
	c.next[app]++
	n = min(n, len(up))
	out := make([]Instance, 0, n)
	for i := range n {
		out = append(out, up[(start+uint64(i))%uint64(len(up))].clone())
	}
	return out, nil
}

// Instances returns the app's instances in the cache, whatever their
// status, sorted by ID; nil for an app the cache does not hold.
func (c *Client) Instances(app string) []Instance {
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	return c.cache.instancesLocked(normalizeApp(app))
}

func (c *cache) instancesLocked(app string) []Instance {
	var out []Instance
	for _, in := range c.apps[app] {
		out = append(out, in.clone())
	}
	sortInstances(out)
	return out
}

// Applications returns a copy of the cache: every app, with the registry's
// version and hash code as last fetched.
func (c *Client) Applications() Applications {
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	out := Applications{VersionsDelta: c.cache.version, AppsHashCode: c.cache.hash}
	for name := range c.cache.apps {
		out.Apps = append(out.Apps, Application{Name: name, Instances: c.cache.instancesLocked(name)})
	}
	slices.SortFunc(out.Apps, func(a, b Application) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Err returns what failed in the last refresh and the last renewal (joined),
// or nil when both succeeded (or never ran). Run reports failures this way
// and in its log; the cache keeps serving through them.
func (c *Client) Err() error {
	c.cache.mu.Lock()
	refreshErr := c.cache.err
	c.cache.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if refreshErr == nil {
		return c.renewErr
	}
	if c.renewErr == nil {
		return refreshErr
	}
	return fmt.Errorf("%w; %w", refreshErr, c.renewErr)
}
