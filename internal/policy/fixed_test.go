package policy

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestFixed(t *testing.T) {
	tests := []struct {
		name    string
		desired int
		current int
		want    outcome
		reason  []string
	}{
		{name: "recommends its capacity", desired: 3, current: 7, want: recommends(3), reason: []string{"fixed at 3"}},
		{name: "zero", desired: 0, current: 2, want: recommends(0), reason: []string{"fixed at 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Fixed: &config.Fixed{Desired: tt.desired}})
			got, err := p.Evaluate(Input{Current: tt.current})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}
