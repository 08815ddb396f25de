package daemon

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/aws"
	"github.com/ebb-autoscaler/ebb/internal/provider/aws/awstest"
	"github.com/ebb-autoscaler/ebb/internal/provider/ecs"
	provexec "github.com/ebb-autoscaler/ebb/internal/provider/exec"
	"github.com/ebb-autoscaler/ebb/internal/provider/kubernetes"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// A group of each provider kind, each on a real system: child processes
// (local), a command (exec), a loopback server speaking the ECS and Auto
// Scaling protocols to the real SDK (ecs, aws), a kube-apiserver
// (kubernetes). One reconcile of each shows its calls in /metrics under
// its kind, and the one group whose service does not exist counts a
// failure under its kind and op alone.
func TestProviderCallsByKindInMetrics(t *testing.T) {
	dir := t.TempDir()

	fakeAWS := awstest.New()
	defer fakeAWS.Stop()
	fakeAWS.AddCluster("prod")
	fakeAWS.AddService("prod", "workers")
	fakeAWS.AddGroup("asg-workers", 0, 5)

	kube := testserver.Shared(t, &servers, "kube", testserver.Kube)
	kubectl := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kube.Kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	ns := "metrics-" + strconv.Itoa(os.Getpid())
	kubectl("", "create", "namespace", ns)
	kubectl(`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}`,
		"-n", ns, "apply", "-f", "-")

	script := filepath.Join(dir, "system.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$EBB_OP\" = observe ] && echo '{\"version\":1,\"desired\":0}'\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := `region: us-east-1, endpoint: ` + fakeAWS.URL() + `, access_key_id: {value: AKIDTEST}, secret_access_key: {value: secret}, tries: 1`
	group := func(name string, desired int, prov string) string {
		return fmt.Sprintf(`
  - name: %s
    capacity: {min: %d, max: 5}
    policies: [{fixed: {desired: %d}}]
    provider: {%s}`, name, desired, desired, prov)
	}
	groups := group("on-local", 1, fmt.Sprintf("local: {command: [/bin/true], log_dir: %q}", filepath.Join(dir, "logs"))) +
		group("on-exec", 0, fmt.Sprintf("exec: {observe: [%[1]q], set_desired: [%[1]q], remove: [%[1]q]}", script)) +
		group("on-ecs", 0, "ecs: {"+keys+", cluster: prod, service: workers}") +
		group("on-ecs-missing", 0, "ecs: {"+keys+", cluster: prod, service: nowhere}") +
		group("on-aws", 0, "aws: {"+keys+", auto_scaling_group: asg-workers}") +
		group("on-kubernetes", 0, fmt.Sprintf("kubernetes: {kubeconfig: %q, namespace: %s, resource: {name: web}}", kube.Kubeconfig, ns)) + "\n"
	h := newHarness(t, groups, Options{Providers: []provider.Kind{
		provexec.Kind(), ecs.Kind(), aws.Kind(), kubernetes.Kind(),
	}})
	h.tick(0)
	for _, name := range []string{"on-local", "on-exec", "on-ecs", "on-ecs-missing", "on-aws", "on-kubernetes"} {
		h.d.mu.Lock()
		rec := h.d.groups[name].rec
		h.d.mu.Unlock()
		_, err := h.d.reconcileGroup(h.ctx, name, rec, 0)
		if (err != nil) != (name == "on-ecs-missing") {
			t.Fatalf("reconcile %s: %v", name, err)
		}
	}

	rr := httptest.NewRecorder()
	h.d.Metrics().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	text := rr.Body.String()
	count := func(metric string) map[string]float64 {
		out := map[string]float64{}
		re := regexp.MustCompile(`(?m)^` + metric + `\{([^}]*)\} (\S+)$`)
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("%s{%s} %s: %v", metric, m[1], m[2], err)
			}
			out[m[1]] = v
		}
		return out
	}
	calls := count("ebb_provider_call_duration_seconds_count")
	for _, labels := range []string{
		`kind="local",op="launch",result="ok"`,
		`kind="exec",op="observe",result="ok"`,
		`kind="ecs",op="observe",result="ok"`,
		`kind="ecs",op="observe",result="error"`,
		`kind="aws",op="observe",result="ok"`,
		`kind="kubernetes",op="observe",result="ok"`,
	} {
		if calls[labels] != 1 {
			t.Errorf("ebb_provider_call_duration_seconds_count{%s} = %v, want 1; all: %v", labels, calls[labels], calls)
		}
	}
	failures := count("ebb_provider_call_failures_total")
	if want := map[string]float64{`kind="ecs",op="observe"`: 1}; fmt.Sprint(failures) != fmt.Sprint(want) {
		t.Errorf("ebb_provider_call_failures_total = %v, want %v", failures, want)
	}
}
