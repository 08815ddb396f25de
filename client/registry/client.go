package registry

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options, Eureka's where Eureka has one.
const (
	DefaultRenewalInterval = 30 * time.Second
	DefaultFetchInterval   = 30 * time.Second
	DefaultTimeout         = 10 * time.Second
)

// maxAnswer bounds what the client reads of a registry answer.
const maxAnswer = 64 << 20

// Sentinel errors, for callers to branch on with errors.Is.
var (
	// ErrUnavailable: no registry server answered (every one was tried).
	ErrUnavailable = errors.New("no registry server answered")
	// ErrNoInstance: the app has no UP instance in the cache.
	ErrNoInstance = errors.New("no UP instance")
	// ErrNotRegistering: the client has no instance to register (Options.
	// Instance is nil), or Deregister or Close ended its registration.
	ErrNotRegistering = errors.New("not registering")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("client closed")
)

// HTTPError is an answer a registry server or an instance gave that the
// client did not expect.
type HTTPError struct {
	// URL is what was asked.
	URL        string
	StatusCode int
	// Body is the start of the answer's body.
	Body string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Clock tells the time and waits. ebb's internal clock implementations
// satisfy it; the default is the wall clock.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, and then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// Options configure a Client. Zero fields take the documented defaults.
type Options struct {
	// Servers are the registry's base URLs, Eureka's path prefix included,
	// e.g. "http://registry-1:8761/eureka". At least one. Every call goes
	// to the server that last answered, and to the next (in order, wrapping
	// around) when that one fails: no connection, a timeout or a 5xx.
	Servers []string
	// Instance is what this process registers, or nil for a client that
	// only discovers others. App, HostName and IPAddr are required; Status
	// defaults to UP, DataCenterInfo.Name to MyOwn, and
	// LeaseInfo.RenewalIntervalInSecs to RenewalInterval.
	Instance *Instance
	// RenewalInterval is how often Run renews the lease (default 30 s). It
	// must be shorter than the lease duration, if Instance sets one.
	RenewalInterval time.Duration
	// FetchInterval is how often Run refreshes the cache (default 30 s).
	FetchInterval time.Duration
	// Timeout bounds each call to a registry server, and each attempt of
	// Do on an instance (default 10 s).
	Timeout time.Duration
	// HTTPClient makes the requests (default: a new http.Client; its own
	// Timeout, if set, applies too).
	HTTPClient *http.Client
	// Clock is the time source (default: the wall clock).
	Clock Clock
	// Logger receives what Run cannot return: failed renewals and
	// refreshes, re-registrations (default: slog.Default()).
	Logger *slog.Logger
}

// Validate reports every bad option at once.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(o.Servers) == 0 {
		bad("servers: at least one registry URL is needed")
	}
	for i, s := range o.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("servers[%d]: %q is not an http(s) URL", i, s)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"renewal_interval", o.RenewalInterval}, {"fetch_interval", o.FetchInterval}, {"timeout", o.Timeout}} {
		if d.v < 0 {
			bad("%s: must not be negative, got %v", d.name, d.v)
		}
	}
	if in := o.Instance; in != nil {
		if normalizeApp(in.App) == "" {
			bad("instance.app: missing")
		}
		if in.HostName == "" {
			bad("instance.hostName: missing")
		}
		if in.IPAddr == "" {
			bad("instance.ipAddr: missing")
		}
		if strings.ContainsAny(in.ID(), "/?#") {
			bad("instance.instanceId: %q must not contain '/', '?' or '#'", in.ID())
		}
		for _, p := range []struct {
			name string
			port Port
		}{{"port", in.Port}, {"securePort", in.SecurePort}} {
			if p.port.Number < 0 || p.port.Number > 65535 {
				bad("instance.%s: %d is not a port number", p.name, p.port.Number)
			}
		}
		renew := cmp.Or(o.RenewalInterval, DefaultRenewalInterval)
		if s := in.LeaseInfo.RenewalIntervalInSecs; s != 0 && time.Duration(s)*time.Second != renew {
			bad("instance.leaseInfo.renewalIntervalInSecs: %d differs from renewal_interval %v (leave it 0)", s, renew)
		}
		if s := in.LeaseInfo.DurationInSecs; s < 0 || (s > 0 && time.Duration(s)*time.Second <= renew) {
			bad("instance.leaseInfo.durationInSecs: %d must be 0 (the registry's default) or longer than renewal_interval %v", s, renew)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registry client options: %w", err)
	}
	return nil
}

// Client registers an instance with a Eureka registry, keeps its lease, and
// keeps a cache of the registry to balance requests over other apps'
// instances. It is safe for concurrent use.
type Client struct {
	opts    Options
	servers []string
	http    *http.Client
	clock   Clock
	log     *slog.Logger

	// mu guards the lease and the server choice.
	mu          sync.Mutex
	self        Instance // zero App when not registering
	registering bool     // the lease is wanted: Register ran, Deregister did not since
	registered  bool     // the registry holds the instance, as far as the client knows
	server      int      // index of the server that last answered
	renewErr    error

	cache cache

	runMu   sync.Mutex
	stopRun context.CancelFunc
	runDone chan struct{}
	closed  bool
}

// New checks opts and returns a client. It makes no call: Register and
// Refresh (or Run) do.
func New(opts Options) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.RenewalInterval = cmp.Or(opts.RenewalInterval, DefaultRenewalInterval)
	opts.FetchInterval = cmp.Or(opts.FetchInterval, DefaultFetchInterval)
	opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	c := &Client{opts: opts, http: opts.HTTPClient, clock: opts.Clock, log: opts.Logger}
	c.cache.refreshing = make(chan struct{}, 1)
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.clock == nil {
		c.clock = wallClock{}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for _, s := range opts.Servers {
		c.servers = append(c.servers, strings.TrimRight(s, "/"))
	}
	if opts.Instance != nil {
		in := opts.Instance.clone()
		in.App = normalizeApp(in.App)
		in.Status = cmp.Or(in.Status, StatusUp)
		in.OverriddenStatus = ""
		in.DataCenterInfo.Name = cmp.Or(in.DataCenterInfo.Name, DataCenterMyOwn)
		if in.LeaseInfo.RenewalIntervalInSecs == 0 {
			in.LeaseInfo.RenewalIntervalInSecs = int(opts.RenewalInterval / time.Second)
		}
		in.LastDirtyTimestamp = c.clock.Now().UnixMilli()
		c.self = in
	}
	return c, nil
}

// answer is a registry server's reply to a call.
type answer struct {
	url    string
	status int
	body   []byte
}

// call sends a request to the registry: to the server that last answered,
// then to each other one in turn while they fail (no connection, a
// timeout, a 5xx). Any other answer, 4xx included, is returned.
func (c *Client) call(ctx context.Context, method, path string, body []byte) (answer, error) {
	c.mu.Lock()
	first := c.server
	c.mu.Unlock()
	var errs []error
	for i := range c.servers {
		n := (first + i) % len(c.servers)
		a, err := c.callServer(ctx, c.servers[n], method, path, body)
		if err == nil {
			c.mu.Lock()
			c.server = n
			c.mu.Unlock()
			return a, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break // the caller gave up: the other servers are not to blame
		}
	}
	return answer{}, fmt.Errorf("%s %s: %w: %w", method, path, ErrUnavailable, errors.Join(errs...))
}

func (c *Client) callServer(ctx context.Context, server, method, path string, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, server+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w", server, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w", server, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return answer{}, fmt.Errorf("%s: read answer: %w", server, err)
	}
	if resp.StatusCode >= 500 {
		return answer{}, httpError(server+path, resp.StatusCode, data)
	}
	return answer{server + path, resp.StatusCode, data}, nil
}

// unwrapURLError drops url.Error's repeat of the method and URL, which the
// caller's message already names.
func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

func httpError(u string, code int, body []byte) *HTTPError {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &HTTPError{URL: u, StatusCode: code, Body: msg}
}

// expect turns an answer other than want into an error.
func (a answer) expect(want ...int) error {
	for _, w := range want {
		if a.status == w {
			return nil
		}
	}
	return httpError(a.url, a.status, a.body)
}

func instancePath(in Instance) string {
	return "/apps/" + url.PathEscape(in.App) + "/" + url.PathEscape(in.ID())
}

// Instance returns the instance as the client registers it.
func (c *Client) Instance() (Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self.App == "" {
		return Instance{}, ErrNotRegistering
	}
	return c.self.clone(), nil
}

// Register registers the instance (POST /apps/{app}) and makes Run keep
// its lease. Registering again is harmless: the registry starts a new lease.
func (c *Client) Register(ctx context.Context) error {
	c.runMu.Lock()
	closed := c.closed
	c.runMu.Unlock()
	if closed {
		return fmt.Errorf("register: %w", ErrClosed)
	}
	c.mu.Lock()
	if c.self.App == "" {
		c.mu.Unlock()
		return fmt.Errorf("register: %w", ErrNotRegistering)
	}
	c.registering = true
	c.mu.Unlock()
	return c.register(ctx)
}

func (c *Client) register(ctx context.Context) error {
	c.mu.Lock()
	in := c.self.clone()
	c.mu.Unlock()
	body, err := encodeInstance(in)
	if err != nil {
		return fmt.Errorf("register %s/%s: encode: %w", in.App, in.ID(), err)
	}
	path := "/apps/" + url.PathEscape(in.App)
	a, err := c.call(ctx, http.MethodPost, path, body)
	if err == nil {
		err = a.expect(http.StatusNoContent, http.StatusOK)
	}
	if err != nil {
		return fmt.Errorf("register %s/%s: %w", in.App, in.ID(), err)
	}
	c.mu.Lock()
	c.registered = c.registering // unless Deregister ran meanwhile
	c.mu.Unlock()
	return nil
}

// Renew renews the lease (PUT /apps/{app}/{id}). When the registry does
// not know the instance (404: it expired, was cancelled by someone else,
// the registry restarted, or it holds older info than the client), or when
// registering failed before, Renew registers it. Before Register and after
// Deregister it returns ErrNotRegistering.
func (c *Client) Renew(ctx context.Context) error {
	err := c.renew(ctx)
	c.mu.Lock()
	c.renewErr = err
	c.mu.Unlock()
	return err
}

func (c *Client) renew(ctx context.Context) error {
	c.mu.Lock()
	in, wanted, registered := c.self, c.registering, c.registered
	c.mu.Unlock()
	if !wanted {
		return fmt.Errorf("renew: %w", ErrNotRegistering)
	}
	if !registered {
		return c.register(ctx)
	}
	path := instancePath(in)
	q := url.Values{"status": {string(in.Status)}, "lastDirtyTimestamp": {strconv.FormatInt(in.LastDirtyTimestamp, 10)}}
	a, err := c.call(ctx, http.MethodPut, path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("renew %s/%s: %w", in.App, in.ID(), err)
	}
	if a.status == http.StatusNotFound {
		c.log.Info("registry does not know the instance, registering again", "app", in.App, "instance", in.ID())
		return c.register(ctx)
	}
	if err := a.expect(http.StatusOK); err != nil {
		return fmt.Errorf("renew %s/%s: %w", in.App, in.ID(), err)
	}
	return nil
}

// SetStatus changes the status the instance reports (STARTING → UP when it
// is ready to serve, DOWN when it is unhealthy) and registers it again so
// the registry sees the change now. If that fails, the next renewal does it:
// the registry answers it 404, as its info is older than the client's. A
// status override set on the registry (OUT_OF_SERVICE) still wins over UP.
// Before Register, it only changes what Register will send.
func (c *Client) SetStatus(ctx context.Context, st Status) error {
	switch st {
	case StatusUp, StatusDown, StatusStarting, StatusOutOfService:
	default:
		return fmt.Errorf("set status: %q is not UP, DOWN, STARTING or OUT_OF_SERVICE", st)
	}
	c.mu.Lock()
	if c.self.App == "" {
		c.mu.Unlock()
		return fmt.Errorf("set status: %w", ErrNotRegistering)
	}
	c.self.Status = st
	// The dirty timestamp must grow, even on a coarse or stopped clock, for
	// the registry to take the new info as newer.
	c.self.LastDirtyTimestamp = max(c.clock.Now().UnixMilli(), c.self.LastDirtyTimestamp+1)
	wanted := c.registering
	c.mu.Unlock()
	if !wanted {
		return nil // Register will send it
	}
	if err := c.register(ctx); err != nil {
		return fmt.Errorf("set status %s: %w", st, err)
	}
	return nil
}

// Deregister cancels the lease (DELETE /apps/{app}/{id}): the registry
// drops the instance at once, and Run stops renewing until Register is
// called again. An instance the registry no longer holds is not an error.
func (c *Client) Deregister(ctx context.Context) error {
	c.mu.Lock()
	in, registered := c.self, c.registered
	c.registering, c.registered = false, false
	c.mu.Unlock()
	if in.App == "" {
		return fmt.Errorf("deregister: %w", ErrNotRegistering)
	}
	if !registered {
		return nil
	}
	path := instancePath(in)
	a, err := c.call(ctx, http.MethodDelete, path, nil)
	if err == nil {
		err = a.expect(http.StatusOK, http.StatusNotFound)
	}
	if err != nil {
		return fmt.Errorf("deregister %s/%s: %w", in.App, in.ID(), err)
	}
	return nil
}
