package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// env is a namespace of its own on the shared kube-apiserver, with the
// admin's clients.
type env struct {
	srv  *testserver.KubeServer
	core kubernetes.Interface
	dyn  dynamic.Interface
	ns   string
}

var namespaces atomic.Int64

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testserver.Shared(t, &servers, "kube", testserver.Kube)
	rc, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 500, 1000
	e := &env{srv: srv, core: kubernetes.NewForConfigOrDie(rc), dyn: dynamic.NewForConfigOrDie(rc),
		ns: fmt.Sprintf("t%d", namespaces.Add(1))}
	ctx := t.Context()
	if _, err := e.core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: the ServiceAccount admission plugin
	// wants the namespace's default account before any Pod.
	if _, err := e.core.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// config is the provider's config for a workload in the env, defaults
// applied as the decoder would.
func (e *env) config(t *testing.T, group, resource, name string) *Config {
	t.Helper()
	d, err := config.Defaults(new(Config))
	if err != nil {
		t.Fatal(err)
	}
	c := d.(*Config)
	c.Kubeconfig, c.Namespace = e.srv.Kubeconfig, e.ns
	c.Resource = Resource{Group: group, Resource: resource, Name: name}
	c.Port = 8080
	c.QPS, c.Burst = 200, 400
	return c
}

type openOpts struct {
	clock clock.Clock
	wrap  func(http.RoundTripper) http.RoundTripper
}

func openProvider(t *testing.T, c *Config, group string, o openOpts) provider.Capacity {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.clock == nil {
		o.clock = clock.Real{}
	}
	p, err := open(c, provider.Deps{Group: group, Clock: o.clock, Rand: rand.New(rand.NewPCG(7, 7))}, o.wrap)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// workload is one workload in the env and the test's stand-in for its
// controller.
type workload struct {
	e        *env
	name     string
	ordinals bool // a StatefulSet: Pods NAME-0, NAME-1, …, highest removed first
	replicas func(ctx context.Context) (int, error)
	setScale func(ctx context.Context, n int) error
	seq      int
}

func (w *workload) selector() string { return "app=" + w.name }

func labels(name string) map[string]string { return map[string]string{"app": name} }

func podTemplate(name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels(name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}},
	}
}

func (e *env) deployment(t *testing.T, name string) *workload {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32), Selector: &metav1.LabelSelector{MatchLabels: labels(name)}, Template: podTemplate(name),
		},
	}
	if _, err := e.core.AppsV1().Deployments(e.ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api := e.core.AppsV1().Deployments(e.ns)
	return &workload{e: e, name: name,
		replicas: func(ctx context.Context) (int, error) {
			sc, err := api.GetScale(ctx, name, metav1.GetOptions{})
			if err != nil {
				return 0, err
			}
			return int(sc.Spec.Replicas), nil
		},
		setScale: func(ctx context.Context, n int) error {
			_, err := api.UpdateScale(ctx, name, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: int32(n)}}, metav1.UpdateOptions{})
			return err
		},
	}
}

func (e *env) statefulSet(t *testing.T, name string) *workload {
	t.Helper()
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32), Selector: &metav1.LabelSelector{MatchLabels: labels(name)}, Template: podTemplate(name),
		},
	}
	if _, err := e.core.AppsV1().StatefulSets(e.ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api := e.core.AppsV1().StatefulSets(e.ns)
	return &workload{e: e, name: name, ordinals: true,
		replicas: func(ctx context.Context) (int, error) {
			sc, err := api.GetScale(ctx, name, metav1.GetOptions{})
			if err != nil {
				return 0, err
			}
			return int(sc.Spec.Replicas), nil
		},
		setScale: func(ctx context.Context, n int) error {
			_, err := api.UpdateScale(ctx, name, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: int32(n)}}, metav1.UpdateOptions{})
			return err
		},
	}
}

var (
	crdGVR   = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	flinkGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
)

// flinkCRD installs a FlinkDeployment-like CRD (once per server), whose
// scale subresource maps .spec.taskManager.replicas, as the Flink
// operator's does.
func (e *env) flinkCRD(t *testing.T) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "flinkdeployments.flink.apache.org"},
		"spec": map[string]any{
			"group": "flink.apache.org",
			"scope": "Namespaced",
			"names": map[string]any{"plural": "flinkdeployments", "singular": "flinkdeployment", "kind": "FlinkDeployment", "shortNames": []any{"flinkdep"}},
			"versions": []any{map[string]any{
				"name": "v1beta1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
				"subresources": map[string]any{
					"status": map[string]any{},
					"scale": map[string]any{
						"specReplicasPath":   ".spec.taskManager.replicas",
						"statusReplicasPath": ".status.taskManager.replicas",
						"labelSelectorPath":  ".status.taskManager.labelSelector",
					},
				},
			}},
		},
	}}
	ctx := t.Context()
	_, err := e.dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Established: the resource and its scale are served.
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		list, err := e.core.Discovery().ServerResourcesForGroupVersion("flink.apache.org/v1beta1")
		if err != nil {
			return struct{}{}, err
		}
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "flinkdeployments/scale" }) {
			return struct{}{}, errors.New("flinkdeployments/scale not served yet")
		}
		_, err = e.dyn.Resource(flinkGVR).Namespace(e.ns).List(ctx, metav1.ListOptions{})
		return struct{}{}, err
	}, backoff.WithBackOff(backoff.NewConstantBackOff(100*time.Millisecond)), backoff.WithMaxElapsedTime(30*time.Second))
	if err != nil {
		t.Fatalf("the FlinkDeployment CRD is not served: %v", err)
	}
}

func (e *env) flinkDeployment(t *testing.T, name string) *workload {
	t.Helper()
	e.flinkCRD(t)
	ctx := t.Context()
	api := e.dyn.Resource(flinkGVR).Namespace(e.ns)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1",
		"kind":       "FlinkDeployment",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"mode":        "standalone",
			"taskManager": map[string]any{"replicas": int64(0)},
			"job":         map[string]any{"parallelism": int64(2)},
		},
	}}
	created, err := api.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The operator would write the selector of its TaskManager Pods.
	if err := unstructured.SetNestedField(created.Object, "app="+name, "status", "taskManager", "labelSelector"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &workload{e: e, name: name,
		replicas: func(ctx context.Context) (int, error) {
			o, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return 0, err
			}
			n, _, err := unstructured.NestedInt64(o.Object, "spec", "taskManager", "replicas")
			return int(n), err
		},
		setScale: func(ctx context.Context, n int) error {
			patch := fmt.Sprintf(`{"spec":{"taskManager":{"replicas":%d}}}`, n)
			_, err := api.Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
			return err
		},
	}
}

// pods lists the workload's Pods that are not being deleted.
func (w *workload) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	list, err := w.e.core.CoreV1().Pods(w.e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: w.selector()})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

// converge does what the workload's controller would: Pods up to the
// replicas (Running, Ready, with an IP), and below them the ReplicaSet's
// choice — lowest pod-deletion-cost first, newest first among equals — or
// a StatefulSet's, highest ordinals first.
func (w *workload) converge(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	want, err := w.replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pods := w.pods(t)
	if w.ordinals {
		have := map[int]bool{}
		for _, p := range pods {
			o, _ := strconv.Atoi(p.Name[strings.LastIndex(p.Name, "-")+1:])
			if o >= want {
				w.delete(t, p.Name)
				continue
			}
			have[o] = true
		}
		for o := range want {
			if !have[o] {
				w.create(t, fmt.Sprintf("%s-%d", w.name, o), nil)
			}
		}
		return
	}
	for n := len(pods); n < want; n++ {
		w.create(t, "", nil)
	}
	if len(pods) <= want {
		return
	}
	cost := func(p corev1.Pod) int {
		c, _ := strconv.Atoi(p.Annotations[DeletionCostAnnotation])
		return c
	}
	seq := func(p corev1.Pod) int { s, _ := strconv.Atoi(p.Labels["seq"]); return s }
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return cmp.Or(cmp.Compare(cost(a), cost(b)), cmp.Compare(seq(b), seq(a)))
	})
	for _, p := range pods[:len(pods)-want] {
		w.delete(t, p.Name)
	}
}

// create makes a Pod of the workload (named NAME-xNNN unless name is
// given) and marks it Running and Ready with an IP; edit may change it
// before it is created.
func (w *workload) create(t *testing.T, name string, edit func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	w.seq++
	if name == "" {
		name = fmt.Sprintf("%s-x%03d", w.name, w.seq)
	}
	l := labels(w.name)
	l["seq"] = strconv.Itoa(w.seq)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Spec: podTemplate(w.name).Spec}
	if edit != nil {
		edit(pod)
	}
	created, err := w.e.core.CoreV1().Pods(w.e.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := fmt.Sprintf("10.1.%d.%d", w.seq/250, w.seq%250+1)
	created.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	updated, err := w.e.core.CoreV1().Pods(w.e.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return updated
}

func (w *workload) delete(t *testing.T, name string) {
	t.Helper()
	err := w.e.core.CoreV1().Pods(w.e.ns).Delete(t.Context(), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
