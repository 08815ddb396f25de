package capacitytest

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// The in-memory system the fleet's and the daemon's tests drive passes the
// suite it stands in for.
func TestMemoryPassesTheSuite(t *testing.T) {
	at := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	m := &Memory{Now: func() time.Time { return at }}
	Run(t, Harness{
		Open:     func(*testing.T) provider.Capacity { return m },
		Converge: func(*testing.T) { m.Converge() },
		External: func(_ *testing.T, n int) { m.Edit(func(d *int, _ *[]provider.Instance) { *d = n }) },
	})
}
