package kubernetes

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

func defaults(t *testing.T) *Config {
	t.Helper()
	d, err := config.Defaults(new(Config))
	if err != nil {
		t.Fatal(err)
	}
	return d.(*Config)
}

// The defaults, as the decoder applies them, are those the docs promise
// and valid.
func TestDefaults(t *testing.T) {
	want := &Config{
		Namespace: "default",
		Resource:  Resource{Group: "apps", Resource: "deployments", Name: "{{.Group}}"},
		ZoneLabel: "topology.kubernetes.io/zone",
		QPS:       5, Burst: 10, Timeout: config.Duration(10 * time.Second),
	}
	got := defaults(t)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{name: "defaults", edit: func(c *Config) {}},
		{name: "a custom resource in the core group", edit: func(c *Config) {
			c.Resource = Resource{Group: "", Resource: "replicationcontrollers", Name: "rc-{{.Group}}"}
		}},
		{name: "everything wrong", edit: func(c *Config) {
			c.Namespace = "Not_A_Namespace"
			c.Resource = Resource{Group: "bad/group", Resource: "Deployments", Name: "{{.Nope}}"}
			c.Port = 70000
			c.ZoneLabel = "not a label"
			c.QPS, c.Burst, c.Timeout = 0, 0, 0
		}, want: []string{
			"burst: must be 1 to 10000, not 0",
			`namespace: "Not_A_Namespace" is not a namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			"port: must be 0 to 65535, not 70000",
			"qps: must be > 0 and at most 10000, not 0",
			`resource.group: "bad/group" is not an API group: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			`resource.name: invalid template (fields: .ID .Group .Zone .Port .Addr): template: name:1:2: executing "name" at <.Nope>: can't evaluate field Nope in type config.TemplateData`,
			`resource.resource: "Deployments" is not a resource's plural name (lower case, like deployments)`,
			"timeout: must be > 0, not 0s",
			`zone_label: "not a label" is not a label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
		{name: "a name that renders no object name", edit: func(c *Config) { c.Resource.Name = "Web {{.Group}}" },
			want: []string{`resource.name: renders "Web g", not an object name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
		{name: "empty resource and name", edit: func(c *Config) { c.Resource.Resource, c.Resource.Name = "", "" },
			want: []string{"resource.name: required", "resource.resource: required"}},
		{name: "a timeout too long", edit: func(c *Config) { c.Timeout = config.Duration(time.Hour) },
			want: []string{"timeout: must be at most 5m, not 1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults(t)
			tt.edit(c)
			if diff := cmp.Diff(tt.want, config.Problems(c.Validate())); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// A group whose name is no object name fails at open, naming the key.
func TestOpenRendersName(t *testing.T) {
	c := defaults(t)
	c.Kubeconfig = "/nonexistent"
	_, err := Kind().Open(c, provider.Deps{Group: "Web_1"})
	if err == nil || !strings.Contains(err.Error(), `resource.name: renders "Web_1"`) {
		t.Errorf("open: %v; want the rendered name refused", err)
	}
}
