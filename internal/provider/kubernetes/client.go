package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// maxRetryAfter caps the wait a server's Retry-After asks for, so that a
// call stays bounded when ctx has no deadline.
const maxRetryAfter = 10 * time.Second

// restConfig loads the client config: the kubeconfig file when one is
// named (or a context is), else the in-cluster service account, else
// $KUBECONFIG or ~/.kube/config.
func restConfig(c *Config) (*rest.Config, error) {
	if c.Kubeconfig == "" && c.Context == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("load the in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load the kubeconfig: %w", err)
	}
	return cfg, nil
}

// clients are the API clients a provider uses, sharing one rate limiter
// (qps, burst) and one transport.
type clients struct {
	core      kubernetes.Interface
	discovery *discovery.DiscoveryClient
	scales    scale.ScalesGetter
}

// newClients builds the clients on cfg, which it adjusts: its own rate
// limiter, the per-request timeout, and a transport that takes the
// server's Retry-After away from client-go (whose own retry would wait it
// out ten times over) and hands it to the provider's retry loop instead.
func newClients(cfg *rest.Config, c *Config, m *mapping, wrap func(http.RoundTripper) http.RoundTripper) (*clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(c.QPS), c.Burst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(c.QPS), c.Burst)
	cfg.Timeout = c.Timeout.D()
	cfg.UserAgent = "ebb"
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return retryAfterTransport{rt}
	})
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("make the client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("make the discovery client: %w", err)
	}
	scales, err := scale.NewForConfig(rest.CopyConfig(cfg), m, dynamic.LegacyAPIPathResolverFunc, m)
	if err != nil {
		return nil, fmt.Errorf("make the scale client: %w", err)
	}
	return &clients{core: core, discovery: disc, scales: scales}, nil
}

// mapping is the workload's resource as the server serves it: the
// preferred version of its group and the kind of its scale subresource.
// It is discovered once, with the caller's ctx (client-go's own discovery
// mapper takes none), and serves the scale client as its RESTMapper and
// ScaleKindResolver.
type mapping struct {
	gr schema.GroupResource

	mu    sync.Mutex
	gvr   schema.GroupVersionResource
	scale schema.GroupVersionKind
	ok    bool
}

// ResourceFor returns the discovered version of the workload's resource.
func (m *mapping) ResourceFor(in schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ok || in.GroupResource() != m.gr {
		return schema.GroupVersionResource{}, fmt.Errorf("resource %s is not discovered", in.GroupResource())
	}
	return m.gvr, nil
}

// ScaleForResource returns the kind of the workload's scale subresource.
func (m *mapping) ScaleForResource(in schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ok || in != m.gvr {
		return schema.GroupVersionKind{}, fmt.Errorf("resource %s is not discovered", in)
	}
	return m.scale, nil
}

// known reports whether the mapping is discovered.
func (m *mapping) known() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ok
}

// forget drops the mapping, so the next call discovers it again (after
// the resource went away, or its preferred version changed).
func (m *mapping) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ok = false
}

// discover learns the mapping from the server: the group's preferred
// version (GET /apis/GROUP, or /api for the core group) and that version's
// resources (GET /apis/GROUP/VERSION), which must list the resource,
// namespaced, and its scale subresource.
func (m *mapping) discover(ctx context.Context, d *discovery.DiscoveryClient) error {
	var version string
	if m.gr.Group == "" {
		var vs metav1.APIVersions
		if err := getJSON(ctx, d, "/api", &vs); err != nil {
			return fmt.Errorf("discover the core group: %w", err)
		}
		if len(vs.Versions) == 0 {
			return errors.New("discover the core group: the server lists no versions")
		}
		version = vs.Versions[0]
	} else {
		var g metav1.APIGroup
		if err := getJSON(ctx, d, "/apis/"+m.gr.Group, &g); err != nil {
			return fmt.Errorf("discover api group %q: %w", m.gr.Group, err)
		}
		version = g.PreferredVersion.Version
		if version == "" && len(g.Versions) > 0 {
			version = g.Versions[0].Version
		}
		if version == "" {
			return fmt.Errorf("discover api group %q: the server lists no versions", m.gr.Group)
		}
	}
	gv := schema.GroupVersion{Group: m.gr.Group, Version: version}
	list, err := d.ServerResourcesForGroupVersionWithContext(ctx, gv.String())
	if err != nil {
		return fmt.Errorf("discover the resources of %s: %w", gv, err)
	}
	var found, namespaced bool
	var scaleKind schema.GroupVersionKind
	var hasScale bool
	for _, r := range list.APIResources {
		switch r.Name {
		case m.gr.Resource:
			found, namespaced = true, r.Namespaced
		case m.gr.Resource + "/scale":
			hasScale = true
			scaleKind = gv.WithKind(r.Kind)
			if r.Group != "" || r.Version != "" {
				scaleKind = schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
			}
		}
	}
	switch {
	case !found:
		return fmt.Errorf("%s serves no resource %q", gv, m.gr.Resource)
	case !namespaced:
		return fmt.Errorf("resource %s is not namespaced", m.gr)
	case !hasScale:
		return fmt.Errorf("resource %s has no scale subresource", m.gr)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gvr, m.scale, m.ok = gv.WithResource(m.gr.Resource), scaleKind, true
	return nil
}

// getJSON GETs path from the API server and decodes the JSON answer.
func getJSON(ctx context.Context, d *discovery.DiscoveryClient, path string, into any) error {
	raw, err := d.RESTClient().Get().AbsPath(path).SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// hintKey carries a *retryHint in a request's context.
type hintKey struct{}

// retryHint records the Retry-After of a call's answer, for the retry
// loop's next delay.
type retryHint struct {
	mu    sync.Mutex
	after time.Duration
}

func (h *retryHint) get() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.after
}

// retryAfterTransport moves a throttled or failed answer's Retry-After
// from the response to the call's retryHint. client-go retries any answer
// that carries one, up to ten times, waiting as long as each asks: that
// would multiply with the provider's bounded, jittered retries.
type retryAfterTransport struct{ next http.RoundTripper }

// WrappedRoundTripper lets client-go reach the transport beneath, to
// cancel a request that timed out.
func (t retryAfterTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500) {
		return resp, err
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return resp, nil
	}
	resp.Header.Del("Retry-After")
	if h, ok := req.Context().Value(hintKey{}).(*retryHint); ok {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			h.mu.Lock()
			h.after = min(time.Duration(s)*time.Second, maxRetryAfter)
			h.mu.Unlock()
		}
	}
	return resp, nil
}
