package kubernetes

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// The victims carry the deletion cost before the replicas drop: watching
// the Pods and the Deployment from one resourceVersion, every victim's
// annotation is written at a lower resourceVersion than the replicas'
// change, and no other Pod is marked.
func TestRemoveMarksBeforeLowering(t *testing.T) {
	e := newEnv(t)
	w := e.deployment(t, "api")
	p := openProvider(t, e.config(t, "apps", "deployments", "api"), "api", openOpts{})
	ctx := t.Context()
	if err := p.SetDesired(ctx, 5); err != nil {
		t.Fatal(err)
	}
	w.converge(t)
	obs, err := p.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victims := []string{obs.Instances[1].ID, obs.Instances[3].ID}

	list, err := e.core.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	from := list.ResourceVersion
	podWatch, err := e.core.CoreV1().Pods(e.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: from})
	if err != nil {
		t.Fatal(err)
	}
	defer podWatch.Stop()
	depWatch, err := e.core.AppsV1().Deployments(e.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: from})
	if err != nil {
		t.Fatal(err)
	}
	defer depWatch.Stop()

	if err := p.Remove(ctx, []provider.Victim{{ID: victims[0]}, {ID: victims[1]}}); err != nil {
		t.Fatal(err)
	}

	marked := map[string]uint64{} // pod → resourceVersion of its marking
	var lowered uint64
	timeout := time.After(10 * time.Second)
	for len(marked) < 2 || lowered == 0 {
		select {
		case ev := <-podWatch.ResultChan():
			pod, ok := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Modified && ok && pod.Annotations[DeletionCostAnnotation] == DeletionCost {
				if _, seen := marked[pod.Name]; !seen {
					marked[pod.Name] = rv(t, pod.ResourceVersion)
				}
			}
		case ev := <-depWatch.ResultChan():
			d, ok := ev.Object.(*appsv1.Deployment)
			if ev.Type == watch.Modified && ok && *d.Spec.Replicas == 3 && lowered == 0 {
				lowered = rv(t, d.ResourceVersion)
			}
		case <-timeout:
			t.Fatalf("after 10s: marked %v, replicas lowered at %d", marked, lowered)
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range marked {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(victims)
	if diff := cmp.Diff(victims, names); diff != "" {
		t.Errorf("marked pods (-want +got):\n%s", diff)
	}
	for pod, at := range marked {
		if at >= lowered {
			t.Errorf("pod %s marked at resourceVersion %d, replicas lowered at %d: want the mark first", pod, at, lowered)
		}
	}
	// The stand-in ReplicaSet then removes exactly the victims.
	w.converge(t)
	obs, err = p.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range obs.Instances {
		if slices.Contains(victims, in.ID) {
			t.Errorf("victim %s still there", in.ID)
		}
	}
	if obs.Desired != 3 || len(obs.Instances) != 3 {
		t.Errorf("desired %d, %d instances; want 3, 3", obs.Desired, len(obs.Instances))
	}
}

func rv(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

// Observe reports what the API says: a replica count someone else set, each
// Pod's address, zone (from its Node's label, each Node read once while
// its Pods run), readiness and leaving, and not finished Pods.
func TestObserve(t *testing.T) {
	e := newEnv(t)
	w := e.deployment(t, "shop")
	ctx := t.Context()
	for _, n := range []struct{ name, zone string }{{"node-a", "eu-1a"}, {"node-b", "eu-1b"}} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: e.ns + "-" + n.name, Labels: map[string]string{"topology.kubernetes.io/zone": n.zone}}}
		if _, err := e.core.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	on := func(node string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.NodeName = e.ns + "-" + node }
	}
	a := w.create(t, "shop-a", on("node-a"))
	w.create(t, "shop-b", on("node-b"))
	w.create(t, "shop-c", on("node-a"))
	// Not ready: no Ready condition.
	d := w.create(t, "shop-d", nil)
	d.Status.Conditions = nil
	if _, err := e.core.CoreV1().Pods(e.ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Finished: not an instance.
	f := w.create(t, "shop-f", nil)
	f.Status.Phase = corev1.PodSucceeded
	if _, err := e.core.CoreV1().Pods(e.ns).UpdateStatus(ctx, f, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Leaving: deleted on a Node, so it waits for its kubelet (none here).
	if err := e.core.CoreV1().Pods(e.ns).Delete(ctx, "shop-c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone else sets the replicas.
	if err := w.setScale(ctx, 7); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var paths []string
	count := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			paths = append(paths, r.URL.Path)
			mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	p := openProvider(t, e.config(t, "apps", "deployments", "{{.Group}}"), "shop", openOpts{wrap: count})
	obs, err := p.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		ID, Addr, Zone  string
		Ready, Leaving  bool
		LaunchedAtIsSet bool
	}
	var got []view
	for _, in := range obs.Instances {
		got = append(got, view{in.ID, in.Addr, in.Zone, in.Ready, in.Leaving, !in.LaunchedAt.IsZero()})
	}
	want := []view{
		{"shop-a", "10.1.0.2:8080", "eu-1a", true, false, true},
		{"shop-b", "10.1.0.3:8080", "eu-1b", true, false, true},
		{"shop-c", "10.1.0.4:8080", "eu-1a", true, true, true},
		{"shop-d", "10.1.0.5:8080", "", false, false, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	if obs.Desired != 7 || obs.Min != -1 || obs.Max != -1 {
		t.Errorf("desired %d, min %d, max %d; want 7, -1, -1", obs.Desired, obs.Min, obs.Max)
	}
	if !obs.Instances[0].LaunchedAt.Equal(a.CreationTimestamp.Time) {
		t.Errorf("launched at %v, want the creation time %v", obs.Instances[0].LaunchedAt, a.CreationTimestamp.Time)
	}
	nodeReads := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range paths {
			if strings.HasPrefix(p, "/api/v1/nodes/") {
				n++
			}
		}
		return n
	}
	if n := nodeReads(); n != 2 {
		t.Errorf("first observe read %d nodes, want 2", n)
	}
	if _, err := p.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	if n := nodeReads(); n != 2 {
		t.Errorf("after a second observe, %d node reads; want still 2 (cached)", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Removing a victim that is already being deleted lowers nothing: its
// ReplicaSet has stopped counting it, and lowering would remove another.
func TestRemoveLeavingVictim(t *testing.T) {
	e := newEnv(t)
	w := e.deployment(t, "q")
	ctx := t.Context()
	p := openProvider(t, e.config(t, "apps", "deployments", "q"), "q", openOpts{})
	if err := p.SetDesired(ctx, 2); err != nil {
		t.Fatal(err)
	}
	w.create(t, "q-a", func(p *corev1.Pod) { p.Spec.NodeName = "somewhere" })
	w.create(t, "q-b", nil)
	if err := e.core.CoreV1().Pods(e.ns).Delete(ctx, "q-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: "q-a"}, {ID: "q-gone"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.replicas(ctx); err != nil || n != 2 {
		t.Errorf("replicas %d (%v), want still 2", n, err)
	}
	// A present victim next to them still counts.
	if err := p.Remove(ctx, []provider.Victim{{ID: "q-a"}, {ID: "q-b"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.replicas(ctx); err != nil || n != 1 {
		t.Errorf("replicas %d (%v), want 1", n, err)
	}
}

// A StatefulSet removes its highest ordinals: Pick names them, and Remove
// refuses any other victim without changing the replicas.
func TestStatefulSetRemovesHighestOrdinals(t *testing.T) {
	e := newEnv(t)
	w := e.statefulSet(t, "db")
	ctx := t.Context()
	p := openProvider(t, e.config(t, "apps", "statefulsets", "db"), "db", openOpts{})
	if err := p.SetDesired(ctx, 12); err != nil {
		t.Fatal(err)
	}
	w.converge(t)
	obs, err := p.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pk, ok := p.(provider.Picker)
	if !ok {
		t.Fatalf("%T is not a Picker", p)
	}
	if diff := cmp.Diff([]string{"db-11", "db-10", "db-9"}, pk.Pick(obs, 3)); diff != "" {
		t.Errorf("pick 3 (-want +got):\n%s", diff)
	}
	err = p.Remove(ctx, []provider.Victim{{ID: "db-11"}, {ID: "db-3"}})
	if !errors.Is(err, errNotHighest) || !strings.Contains(err.Error(), "ordinals 10 to 11") {
		t.Errorf("remove db-11, db-3: %v; want an error naming the rule and ordinals 10 to 11", err)
	}
	if n, err := w.replicas(ctx); err != nil || n != 12 {
		t.Errorf("replicas %d (%v), want still 12", n, err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: "db-10"}, {ID: "db-11"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.replicas(ctx); err != nil || n != 10 {
		t.Errorf("replicas %d (%v), want 10", n, err)
	}
	// One victim at a time, as ebb's drains finish: the lower one waits
	// for the higher; the higher, removed but not yet deleted, is beyond
	// the replicas and no longer counts.
	w.converge(t)
	if err := p.Remove(ctx, []provider.Victim{{ID: "db-8"}}); !errors.Is(err, errNotHighest) {
		t.Errorf("remove db-8 before db-9: %v; want errNotHighest", err)
	}
	for _, v := range []string{"db-9", "db-8", "db-9"} {
		if err := p.Remove(ctx, []provider.Victim{{ID: v}}); err != nil {
			t.Errorf("remove %s: %v", v, err)
		}
	}
	if n, err := w.replicas(ctx); err != nil || n != 8 {
		t.Errorf("replicas %d (%v), want 8", n, err)
	}
}

// The client-side rate limit holds over all of a group's requests: a burst
// of calls is spread at qps once the burst is spent.
func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	w := e.deployment(t, "rl")
	w.create(t, "rl-a", nil)
	c := e.config(t, "apps", "deployments", "rl")
	c.QPS, c.Burst, c.ZoneLabel = 20, 2, ""
	var mu sync.Mutex
	var at []time.Time
	p := openProvider(t, c, "rl", openOpts{wrap: func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			return rt.RoundTrip(r)
		})
	}})
	ctx := t.Context()
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := p.Observe(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// 10 observes (scale, pods) after the discovery's 2 requests: at
	// least 22 requests, all but the burst paced at 20/s.
	if len(at) < 22 {
		t.Fatalf("%d requests, want at least 22", len(at))
	}
	if min := time.Duration(len(at)-c.Burst) * time.Second / 20; time.Since(start) < min*9/10 {
		t.Errorf("%d requests in %s; at 20/s with a burst of 2 they take at least %s", len(at), time.Since(start), min)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for i := range at {
		// In any half second: at most the burst plus 10.
		j := i
		for j < len(at) && at[j].Sub(at[i]) < 500*time.Millisecond {
			j++
		}
		if j-i > c.Burst+10+1 {
			t.Errorf("%d requests within 500ms from request %d", j-i, i)
			break
		}
	}
}

// The provider's calls with an ended context make no request at all.
func TestEndedContextSendsNothing(t *testing.T) {
	e := newEnv(t)
	e.deployment(t, "idle")
	var mu sync.Mutex
	n := 0
	p := openProvider(t, e.config(t, "apps", "deployments", "idle"), "idle", openOpts{wrap: func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			n++
			mu.Unlock()
			return rt.RoundTrip(r)
		})
	}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Observe(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("observe: %v, want context.Canceled", err)
	}
	if err := p.SetDesired(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("set desired: %v, want context.Canceled", err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: "idle-x"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("remove: %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests sent with an ended context", n)
	}
}

// A victim replaced by a new Pod of the same name (a StatefulSet's, say)
// between the listing and the marking is gone: the new Pod is not marked.
func TestMarkChecksUID(t *testing.T) {
	e := newEnv(t)
	w := e.deployment(t, "m")
	ctx := t.Context()
	old := w.create(t, "m-0", nil)
	w.delete(t, "m-0")
	w.create(t, "m-0", nil)
	p := openProvider(t, e.config(t, "apps", "deployments", "m"), "m", openOpts{}).(*Provider)
	ok, err := p.mark(ctx, old)
	if err != nil || ok {
		t.Errorf("mark the replaced pod: %v, %v; want false, nil", ok, err)
	}
	now, err := e.core.CoreV1().Pods(e.ns).Get(ctx, "m-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, set := now.Annotations[DeletionCostAnnotation]; set {
		t.Errorf("the new pod got deletion cost %s", c)
	}
	if ok, err := p.mark(ctx, now); err != nil || !ok {
		t.Errorf("mark the pod itself: %v, %v; want true, nil", ok, err)
	}
}
