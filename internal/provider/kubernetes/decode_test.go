package kubernetes

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/prometheus"
)

func kinds() *config.Kinds {
	k := source.Registry([]source.Kind{prometheus.Kind()})
	k.Providers = []config.Kind{Kind().Kind}
	return k
}

// The examples of docs/providers.md's kubernetes section, through the
// config decoder: the kind's config decodes strictly, takes its defaults
// and validates with positions; the reference covers it.
func TestDecode(t *testing.T) {
	all, err := os.ReadFile("../../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := all[bytes.Index(all, []byte("\n## kubernetes\n")):]
	if end := bytes.Index(doc[1:], []byte("\n## ")); end >= 0 {
		doc = doc[:end+1]
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) != 2 {
		t.Fatalf("%d yaml blocks in the kubernetes section, want 2", len(blocks))
	}
	f, err := kinds().Parse("ebb.yaml", blocks[0][1])
	if err != nil {
		t.Fatal(err)
	}
	got, ok := f.Groups[0].Provider.Kind.Config.(*Config)
	if !ok {
		t.Fatalf("provider = %#v", f.Groups[0].Provider)
	}
	want := &Config{
		Namespace: "shop",
		Resource:  Resource{Group: "apps", Resource: "deployments", Name: "{{.Group}}"},
		Port:      8080,
		ZoneLabel: "topology.kubernetes.io/zone",
		QPS:       5, Burst: 10, Timeout: config.Duration(10 * time.Second),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	// The second example is a group's provider section.
	group := "groups:\n  - name: wordcount\n    capacity: {max: 8}\n    policies: [{fixed: {desired: 2}}]\n" + string(blocks[1][1])
	f, err = kinds().Parse("ebb.yaml", []byte(group))
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Groups[0].Provider.Kind.Config.(*Config); c.Resource.Group != "flink.apache.org" || c.Context != "prod-eu" {
		t.Errorf("flink example: %+v", c)
	}

	_, err = kinds().Parse("ebb.yaml", []byte(`groups:
  - name: w
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
    provider:
      kubernetes:
        namespace: Shop
        resource: {resource: deployments, nme: x}
        qps: 0
`))
	for _, want := range []string{
		`ebb.yaml:7:20: groups[0].provider.kubernetes.namespace: "Shop" is not a namespace name`,
		`groups[0].provider.kubernetes.resource: unknown key "nme"`,
		`groups[0].provider.kubernetes.qps: must be > 0`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v; want one with %q", err, want)
		}
	}

	if _, err := kinds().Schema(); err != nil {
		t.Fatal(err)
	}
	ref := kinds().ProviderReference()
	for _, key := range []string{"kubeconfig", "resource.name", "zone_label", "qps", "burst", "timeout"} {
		if !strings.Contains(ref, "groups[].provider.kubernetes."+key) {
			t.Errorf("the reference lacks %s", key)
		}
	}
}
