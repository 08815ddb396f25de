package kubernetes

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
)

// The conformance suite against a real kube-apiserver, for a Deployment,
// a StatefulSet and a custom resource with a scale subresource (a
// FlinkDeployment), each opened through the registered kind.
func TestConformance(t *testing.T) {
	tests := []struct {
		name     string
		group    string
		resource string
		make     func(e *env, t *testing.T, name string) *workload
		picker   bool
	}{
		{name: "deployment", group: "apps", resource: "deployments", make: (*env).deployment},
		{name: "statefulset", group: "apps", resource: "statefulsets", make: (*env).statefulSet, picker: true},
		{name: "flinkdeployment", group: "flink.apache.org", resource: "flinkdeployments", make: (*env).flinkDeployment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			w := tt.make(e, t, "web")
			capacitytest.Run(t, capacitytest.Harness{
				Open: func(t *testing.T) provider.Capacity {
					c := e.config(t, tt.group, tt.resource, "{{.Group}}")
					if err := c.Validate(); err != nil {
						t.Fatal(err)
					}
					p, err := Kind().Open(c, provider.Deps{Group: "web"})
					if err != nil {
						t.Fatal(err)
					}
					if _, ok := p.(provider.Picker); ok != tt.picker {
						t.Fatalf("%T: a Picker is %v, want %v", p, ok, tt.picker)
					}
					return p.(provider.Capacity)
				},
				Converge: w.converge,
				External: func(t *testing.T, n int) {
					if err := w.setScale(t.Context(), n); err != nil {
						t.Fatal(err)
					}
				},
			})
		})
	}
}
