package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// DeletionCost is the pod-deletion-cost annotation Remove writes on its
// victims: the lowest an int32 can be, so a ReplicaSet deletes them before
// any Pod a user ranked.
const (
	DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"
	DeletionCost           = "-2147483648"
)

// Kind is the kubernetes provider kind, registered by the composition
// root. It opens a *Provider, or a *StatefulSet (a Picker) when the
// resource is apps/statefulsets.
func Kind() provider.Kind {
	return provider.NewKind[Config, provider.Capacity]("kubernetes",
		"A Kubernetes workload (Deployment, StatefulSet or any resource with a scale subresource), scaled through its scale subresource.",
		func(c *Config, deps provider.Deps) (provider.Capacity, error) { return open(c, deps, nil) })
}

// Provider drives one workload through its scale subresource and lists its
// Pods by the scale's selector. It is safe for concurrent use.
type Provider struct {
	cfg     Config
	name    string // the workload, rendered
	group   string
	timeout time.Duration
	c       *clients
	m       *mapping
	clock   clock.Clock
	log     *slog.Logger

	randMu sync.Mutex
	rand   *rand.Rand

	zonesMu sync.Mutex
	zones   map[string]string // node → zone, for the nodes the last Observe saw
}

var (
	_ provider.Capacity = (*Provider)(nil)
	_ provider.Capacity = (*StatefulSet)(nil)
	_ provider.Picker   = (*StatefulSet)(nil)
)

// open opens the provider; wrap, for tests, wraps the HTTP transport.
func open(c *Config, deps provider.Deps, wrap func(http.RoundTripper) http.RoundTripper) (provider.Capacity, error) {
	name, err := renderName(c.Resource.Name, deps.Group)
	if err != nil {
		return nil, fmt.Errorf("resource.name: %w", err)
	}
	rc, err := restConfig(c)
	if err != nil {
		return nil, err
	}
	m := &mapping{gr: schema.GroupResource{Group: c.Resource.Group, Resource: c.Resource.Resource}}
	cl, err := newClients(rc, c, m, wrap)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg: *c, name: name, group: deps.Group, timeout: c.Timeout.D(),
		c: cl, m: m, clock: deps.Clock, log: deps.Log, rand: deps.Rand,
		zones: map[string]string{},
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.rand == nil {
		p.rand = rand.New(rand.NewPCG(1, 2)) // the daemon always passes one; tests may not
	}
	if c.Resource.Group == "apps" && c.Resource.Resource == "statefulsets" {
		return &StatefulSet{p}, nil
	}
	return p, nil
}

// workload names the workload in errors: deployments.apps default/web.
func (p *Provider) workload() string {
	return fmt.Sprintf("%s %s/%s", p.m.gr, p.cfg.Namespace, p.name)
}

// getScale reads the workload's scale, discovering its resource first if
// need be.
func (p *Provider) getScale(ctx context.Context) (*autoscalingv1.Scale, error) {
	if !p.m.known() {
		err := p.call(ctx, "discover "+p.m.gr.String(), func(ctx context.Context) error {
			return p.m.discover(ctx, p.c.discovery)
		})
		if err != nil {
			return nil, err
		}
	}
	var sc *autoscalingv1.Scale
	err := p.call(ctx, "get the scale of "+p.workload(), func(ctx context.Context) error {
		var err error
		sc, err = p.c.scales.Scales(p.cfg.Namespace).Get(ctx, p.m.gr, p.name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		// Perhaps the resource's version changed (a CRD's did): discover
		// it again at the next call.
		p.m.forget()
	}
	return sc, err
}

// updateScale writes sc (with its resourceVersion, so a concurrent write
// conflicts). ambiguous reports whether more than one attempt was made:
// then a conflict may be with an earlier attempt's own write, whose answer
// was lost.
func (p *Provider) updateScale(ctx context.Context, sc *autoscalingv1.Scale) (ambiguous bool, err error) {
	tries := 0
	err = p.call(ctx, fmt.Sprintf("set the replicas of %s to %d", p.workload(), sc.Spec.Replicas), func(ctx context.Context) error {
		tries++
		_, err := p.c.scales.Scales(p.cfg.Namespace).Update(ctx, p.m.gr, sc, metav1.UpdateOptions{})
		return err
	})
	return tries > 1, err
}

// Observe reads the scale (desired count and selector), lists the Pods
// the selector matches and, with a zone label, reads the Nodes they run
// on that the previous Observe did not: two requests, plus one per new
// Node.
func (p *Provider) Observe(ctx context.Context) (provider.Observed, error) {
	sc, err := p.getScale(ctx)
	if err != nil {
		return provider.Observed{}, err
	}
	pods, err := p.pods(ctx, sc)
	if err != nil {
		return provider.Observed{}, err
	}
	zones, err := p.nodeZones(ctx, pods)
	if err != nil {
		return provider.Observed{}, err
	}
	obs := provider.Observed{Desired: int(sc.Spec.Replicas), Min: -1, Max: -1}
	for _, pod := range pods {
		in := provider.Instance{
			ID:         pod.Name,
			Zone:       zones[pod.Spec.NodeName],
			Ready:      podReady(pod),
			Leaving:    pod.DeletionTimestamp != nil,
			LaunchedAt: pod.CreationTimestamp.Time,
		}
		if p.cfg.Port > 0 && pod.Status.PodIP != "" {
			in.Addr = net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(p.cfg.Port))
		}
		obs.Instances = append(obs.Instances, in)
	}
	return obs, nil
}

// pods lists the workload's Pods that are not finished (Succeeded or
// Failed Pods are the controller's to replace), sorted by name.
func (p *Provider) pods(ctx context.Context, sc *autoscalingv1.Scale) ([]*corev1.Pod, error) {
	if sc.Status.Selector == "" {
		return nil, fmt.Errorf("the scale of %s has no selector yet: its Pods cannot be told apart", p.workload())
	}
	var list *corev1.PodList
	err := p.call(ctx, "list the pods of "+p.workload(), func(ctx context.Context) error {
		var err error
		list, err = p.c.core.CoreV1().Pods(p.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sc.Status.Selector})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, pod)
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeZones returns the zone of each node the pods run on, reading the
// nodes it does not know yet; it forgets the nodes no pod runs on, so a
// node that comes back under the same name is read again.
func (p *Provider) nodeZones(ctx context.Context, pods []*corev1.Pod) (map[string]string, error) {
	if p.cfg.ZoneLabel == "" {
		return nil, nil
	}
	p.zonesMu.Lock()
	known := make(map[string]string, len(p.zones))
	for k, v := range p.zones {
		known[k] = v
	}
	p.zonesMu.Unlock()
	zones := map[string]string{}
	for _, pod := range pods {
		node := pod.Spec.NodeName
		if node == "" {
			continue
		}
		if _, seen := zones[node]; seen {
			continue
		}
		if z, ok := known[node]; ok {
			zones[node] = z
			continue
		}
		var n *corev1.Node
		err := p.call(ctx, "get node "+node, func(ctx context.Context) error {
			var err error
			n, err = p.c.core.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			return err
		})
		switch {
		case apierrors.IsNotFound(err):
			zones[node] = "" // gone: its pods are too, soon
			continue
		case err != nil:
			return nil, fmt.Errorf("read zones (zone_label %s; set it to \"\" not to): %w", p.cfg.ZoneLabel, err)
		}
		zones[node] = n.Labels[p.cfg.ZoneLabel]
	}
	p.zonesMu.Lock()
	p.zones = zones
	p.zonesMu.Unlock()
	return zones, nil
}

// SetDesired sets the scale's replicas to n: read, then write with the
// read's resourceVersion, again on a conflict (someone else wrote in
// between), at most conflictTries times. Setting what is set writes
// nothing.
func (p *Provider) SetDesired(ctx context.Context, n int) error {
	if n < 0 || n > 1<<31-1 {
		return fmt.Errorf("set the replicas of %s to %d: out of range", p.workload(), n)
	}
	return p.rewrite(ctx, fmt.Sprintf("set the replicas of %s to %d", p.workload(), n),
		func(cur int32) int32 { return int32(n) })
}

// rewrite sets the replicas to to(current), re-reading on a conflict. A
// conflict after an attempt whose answer was lost (a timeout, a 5xx) may
// be with that attempt's own write: when the replicas then read what that
// write set, it is taken as done, so a decrement is never applied twice.
func (p *Provider) rewrite(ctx context.Context, what string, to func(cur int32) int32) error {
	var wrote int32 = -1 // what a possibly landed write set
	for range conflictTries {
		sc, err := p.getScale(ctx)
		if err != nil {
			return err
		}
		if wrote >= 0 && sc.Spec.Replicas == wrote {
			return nil
		}
		want := to(sc.Spec.Replicas)
		if sc.Spec.Replicas == want {
			return nil
		}
		sc.Spec.Replicas = want
		ambiguous, err := p.updateScale(ctx, sc)
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err):
			if ambiguous {
				wrote = want
			}
			continue
		default:
			return err
		}
	}
	return fmt.Errorf("%s: the scale kept changing under %d tries", what, conflictTries)
}

// Remove marks the victims still present with the lowest pod-deletion-cost
// (one patch each, checked against the Pod's UID so a new Pod of the same
// name is not marked), then lowers the replicas by as many: the workload's
// ReplicaSet deletes the lowest-cost Pods first. Victims already gone, or
// already being deleted, are success and lower nothing.
func (p *Provider) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove from %s: %w", p.workload(), err)
	}
	present, _, err := p.present(ctx, victims)
	if err != nil {
		return err
	}
	var marked int
	for _, pod := range present {
		ok, err := p.mark(ctx, pod)
		if err != nil {
			return err
		}
		if ok {
			marked++
		}
	}
	if marked == 0 {
		return nil
	}
	return p.lower(ctx, marked)
}

// lower lowers the replicas by k, never below 0.
func (p *Provider) lower(ctx context.Context, k int) error {
	return p.rewrite(ctx, fmt.Sprintf("lower the replicas of %s by %d", p.workload(), k),
		func(cur int32) int32 { return max(cur-int32(k), 0) })
}

// present returns the victims' Pods that exist and are not being deleted,
// with the scale they were listed by.
func (p *Provider) present(ctx context.Context, victims []provider.Victim) ([]*corev1.Pod, *autoscalingv1.Scale, error) {
	sc, err := p.getScale(ctx)
	if err != nil {
		return nil, nil, err
	}
	pods, err := p.pods(ctx, sc)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]*corev1.Pod, len(pods))
	for _, pod := range pods {
		byName[pod.Name] = pod
	}
	var out []*corev1.Pod
	seen := map[string]bool{}
	for _, v := range victims {
		pod := byName[v.ID]
		if pod == nil || pod.DeletionTimestamp != nil || seen[v.ID] {
			continue
		}
		seen[v.ID] = true
		out = append(out, pod)
	}
	return out, sc, nil
}

// mark sets the victim's deletion cost. It reports false when the Pod is
// gone, or replaced by another of the same name, by then.
func (p *Provider) mark(ctx context.Context, pod *corev1.Pod) (bool, error) {
	patch := fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:%q}}}`, pod.UID, DeletionCostAnnotation, DeletionCost)
	err := p.call(ctx, "mark pod "+pod.Name+" to be deleted first", func(ctx context.Context) error {
		_, err := p.c.core.CoreV1().Pods(p.cfg.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err) || uidChanged(err):
		return false, nil // gone, or a new Pod under its name
	}
	return false, err
}

// uidChanged reports whether a patch carrying metadata.uid was refused
// because the object's UID differs: the API server calls it an invalid
// change of an immutable field; a conflict is taken the same way.
func uidChanged(err error) bool {
	if apierrors.IsConflict(err) {
		return true
	}
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == "metadata.uid" {
			return true
		}
	}
	return false
}

// errNotHighest is wrapped by a StatefulSet's Remove given victims that are
// not its highest ordinals.
var errNotHighest = errors.New("a StatefulSet removes its highest ordinals")
