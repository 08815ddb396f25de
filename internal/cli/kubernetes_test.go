package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// cluster is a real kube-apiserver with a Deployment and, since no
// controllers run beside it, the test's stand-in for the ReplicaSet
// controller: converge creates ready Pods up to replicas and deletes the
// surplus, lowest pod-deletion-cost first.
type cluster struct {
	t    *testing.T
	kube *testserver.KubeServer
	cs   *k8s.Clientset
	ns   string
	n    int
}

const deletionCost = "controller.kubernetes.io/pod-deletion-cost"

// kubeClient is the package's kube-apiserver and a client of it.
func kubeClient(t *testing.T) (*testserver.KubeServer, *k8s.Clientset) {
	t.Helper()
	kube := testserver.Shared(t, &servers, "kube", testserver.Kube)
	cfg, err := clientcmd.BuildConfigFromFlags("", kube.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube, cs
}

func newCluster(t *testing.T, name string, replicas int32) *cluster {
	t.Helper()
	kube, cs := kubeClient(t)
	c := &cluster{t: t, kube: kube, cs: cs, ns: "default"}
	// No controller manager runs: the namespace's default service
	// account, which Pods need, is created here.
	_, err := cs.CoreV1().ServiceAccounts(c.ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	labels := map[string]string{"app": name}
	_, err = cs.AppsV1().Deployments(c.ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "worker"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cs.AppsV1().Deployments(c.ns).Delete(ctx, name, metav1.DeleteOptions{})
		_ = cs.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=" + name})
	})
	return c
}

func (c *cluster) replicas(name string) int {
	c.t.Helper()
	s, err := c.cs.AppsV1().Deployments(c.ns).GetScale(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return int(s.Spec.Replicas)
}

func (c *cluster) pods(name string) []corev1.Pod {
	c.t.Helper()
	l, err := c.cs.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		c.t.Fatal(err)
	}
	return l.Items
}

func cost(p corev1.Pod) int {
	n, _ := strconv.Atoi(p.Annotations[deletionCost])
	return n
}

func (c *cluster) converge(name string) {
	c.t.Helper()
	ctx := context.Background()
	want := c.replicas(name)
	pods := c.pods(name)
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int { return cost(a) - cost(b) })
	for i := 0; i < len(pods)-want; i++ {
		if err := c.cs.CoreV1().Pods(c.ns).Delete(ctx, pods[i].Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			c.t.Fatal(err)
		}
	}
	for i := len(pods); i < want; i++ {
		c.n++
		p, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, c.n), Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "worker"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			c.t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.0.%d", c.n),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if _, err := c.cs.CoreV1().Pods(c.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// ebb run scales a Deployment on a real kube-apiserver: a decision becomes
// replicas, the Pods become ebb's instances, a scale-in marks ebb's
// victims (the oldest) to be deleted first before replicas drop, and a
// replica count set with the scale subresource by someone else is taken as
// the group's capacity, logged.
func TestRunScalesAKubernetesDeployment(t *testing.T) {
	c := newCluster(t, "web", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "ebb.yaml")
	cfg := fmt.Sprintf(`store: {path: %q}
api: {listen: "127.0.0.1:0"}
groups:
  - name: web
    capacity: {min: 1, max: 10}
    interval: 1s
    signals: {queue: {stale: 1h}}
    policies: [{queue: {signal: queue, per_instance: 10}}]
    behavior:
      up: {limits: [{count: 10, per: 1s}]}
      down: {window: 0s}
    lifecycle: {drain: {heartbeat: 1s}}
    provider:
      kubernetes: {kubeconfig: %q, resource: {name: web}, port: 8080, zone_label: "", qps: 50, burst: 100}
`, filepath.Join(dir, "ebb.db"), c.kube.Kubeconfig)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, "s3cret")
	defer d.stop()
	ctx := context.Background()
	push := func(v float64) {
		t.Helper()
		if err := d.c.Push(ctx, "web", time.Now(), map[string]float64{"queue": v}); err != nil {
			t.Fatal(err)
		}
	}

	push(40)
	eventually(t, 20*time.Second, "replicas 4", func() bool { return c.replicas("web") == 4 })
	c.converge("web")
	eventually(t, 20*time.Second, "4 pods in service in ebb", func() bool { return len(inService(t, d.c)) == 4 })
	for _, in := range inService(t, d.c) {
		if !strings.HasPrefix(in.Addr, "10.0.0.") || !strings.HasSuffix(in.Addr, ":8080") {
			t.Errorf("instance %s at %q; want its pod IP and port", in.ID, in.Addr)
		}
	}

	// Scale in to 2: the two oldest Pods are marked, then replicas drop.
	push(20)
	eventually(t, 20*time.Second, "replicas 2", func() bool { return c.replicas("web") == 2 })
	var marked []string
	for _, p := range c.pods("web") {
		if _, ok := p.Annotations[deletionCost]; ok {
			marked = append(marked, p.Name)
		}
	}
	slices.Sort(marked)
	if !slices.Equal(marked, []string{"web-1", "web-2"}) {
		t.Fatalf("pods marked for deletion %v; want ebb's victims, the oldest: web-1, web-2", marked)
	}
	c.converge("web")
	eventually(t, 20*time.Second, "web-1 and web-2 terminated in ebb", func() bool {
		var insts []model.Instance
		if err := d.c.Instances(ctx, "web", true, &insts); err != nil {
			t.Fatal(err)
		}
		ended := 0
		for _, in := range insts {
			if (in.ID == "web-1" || in.ID == "web-2") && in.State == model.Terminated {
				ended++
			}
		}
		return ended == 2
	})

	// Someone scales the Deployment by hand to 5: taken as input.
	s, err := c.cs.AppsV1().Deployments(c.ns).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec = autoscalingv1.ScaleSpec{Replicas: 5}
	if _, err := c.cs.AppsV1().Deployments(c.ns).UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var acts struct {
		Operator []struct {
			Action string `json:"action"`
			Detail string `json:"detail"`
		} `json:"operator"`
	}
	eventually(t, 20*time.Second, "the outside change logged", func() bool {
		if err := d.c.Activities(ctx, "web", 10, &acts); err != nil {
			t.Fatal(err)
		}
		return len(acts.Operator) > 0 && acts.Operator[0].Action == "outside"
	})
	if !strings.Contains(acts.Operator[0].Detail, "set to 5 in the group's system, outside ebb") {
		t.Errorf("activity %+v", acts.Operator[0])
	}
}
