package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Config is a group's Kubernetes workload: the value under
// groups[].provider.kubernetes.
type Config struct {
	Kubeconfig string          `yaml:"kubeconfig" doc:"The kubeconfig file. Empty: the in-cluster service account when ebb runs in a Pod, else $KUBECONFIG or ~/.kube/config."`
	Context    string          `yaml:"context" doc:"The kubeconfig context; its current context when empty."`
	Namespace  string          `yaml:"namespace" default:"default" doc:"The workload's namespace."`
	Resource   Resource        `yaml:"resource" doc:"The workload whose scale subresource ebb drives."`
	Port       int             `yaml:"port" default:"0" doc:"The Pod port ebb's probes and drains reach, as POD_IP:PORT; 0: instances have no address."`
	ZoneLabel  string          `yaml:"zone_label" default:"topology.kubernetes.io/zone" doc:"The label of a Pod's Node that names its zone; empty: zones are not read (and Nodes need not be readable)."`
	QPS        float64         `yaml:"qps" default:"5" doc:"Requests per second to the API server, on average, over all calls for the group."`
	Burst      int             `yaml:"burst" default:"10" doc:"Requests allowed at once above qps."`
	Timeout    config.Duration `yaml:"timeout" default:"10s" doc:"How long one request to the API server may take."`
}

// Resource names the workload: any resource with a scale subresource.
type Resource struct {
	Group    string `yaml:"group" default:"apps" doc:"The API group: apps for Deployments and StatefulSets, flink.apache.org for FlinkDeployments, \"\" for the core group."`
	Resource string `yaml:"resource" default:"deployments" doc:"The resource's plural name: deployments, statefulsets, flinkdeployments, …"`
	Name     string `yaml:"name" default:"'{{.Group}}'" doc:"The workload's name, a template of {{.Group}}."`
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, config.Problem("namespace", "%q is not a namespace name: %s", c.Namespace, strings.Join(msgs, "; ")))
	}
	errs = append(errs, config.Under("resource", c.Resource.validate()))
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, config.Problem("port", "must be 0 to 65535, not %d", c.Port))
	}
	if c.ZoneLabel != "" {
		if msgs := content.IsLabelKey(c.ZoneLabel); len(msgs) > 0 {
			errs = append(errs, config.Problem("zone_label", "%q is not a label key: %s", c.ZoneLabel, strings.Join(msgs, "; ")))
		}
	}
	if !(c.QPS > 0) || c.QPS > 10000 {
		errs = append(errs, config.Problem("qps", "must be > 0 and at most 10000, not %g", c.QPS))
	}
	if c.Burst < 1 || c.Burst > 10000 {
		errs = append(errs, config.Problem("burst", "must be 1 to 10000, not %d", c.Burst))
	}
	if c.Timeout.D() <= 0 {
		errs = append(errs, config.Problem("timeout", "must be > 0, not %s", c.Timeout))
	} else if c.Timeout.D() > 5*time.Minute {
		errs = append(errs, config.Problem("timeout", "must be at most 5m, not %s", c.Timeout))
	}
	return errors.Join(errs...)
}

func (r *Resource) validate() error {
	var errs []error
	if r.Group != "" {
		if msgs := validation.IsDNS1123Subdomain(r.Group); len(msgs) > 0 {
			errs = append(errs, config.Problem("group", "%q is not an API group: %s", r.Group, strings.Join(msgs, "; ")))
		}
	}
	switch {
	case r.Resource == "":
		errs = append(errs, config.Problem("resource", "required"))
	case len(validation.IsDNS1123Label(r.Resource)) > 0:
		errs = append(errs, config.Problem("resource", "%q is not a resource's plural name (lower case, like deployments)", r.Resource))
	}
	if r.Name == "" {
		errs = append(errs, config.Problem("name", "required"))
	} else if _, err := renderName(r.Name, "g"); err != nil {
		errs = append(errs, config.Problem("name", "%v", err))
	}
	return errors.Join(errs...)
}

// renderName renders the workload's name template for group and checks the
// result is an object name.
func renderName(text, group string) (string, error) {
	t, err := config.ParseTemplate("name", text)
	if err != nil {
		return "", err
	}
	name, err := config.Execute(t, config.TemplateData{Group: group})
	if err != nil {
		return "", err
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", fmt.Errorf("renders %q, not an object name: %s", name, strings.Join(msgs, "; "))
	}
	return name, nil
}
