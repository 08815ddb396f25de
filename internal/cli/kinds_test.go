package cli

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Every kind's default tags decode into its configs: a default that is
// not valid YAML for its key would fail every config that leaves the key
// out.
func TestKindDefaultsDecode(t *testing.T) {
	for _, k := range sourceKinds() {
		for role, zero := range map[string]any{"connection": k.Conn, "signal": k.Query} {
			if _, err := config.Defaults(zero); err != nil {
				t.Errorf("%s's %s config: %v", k.Name, role, err)
			}
		}
	}
	for _, k := range providerKinds() {
		if _, err := config.Defaults(k.Conn); err != nil {
			t.Errorf("provider %s's config: %v", k.Name, err)
		}
	}
}
