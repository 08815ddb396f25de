package rabbitmq

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// TestConformance gives each group a queue named after it holding v ready
// messages; one listing of the vhost's queues answers every group.
func TestConformance(t *testing.T) {
	srv := testserver.Shared(t, &servers, "rabbitmq", testserver.RabbitMQ)
	ch := channel(t, srv)
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { src, _ := openSource(t, conn(srv.Management)); return src },
		Set: func(t *testing.T, group string, v float64) {
			declare(t, ch, group)
			if _, err := ch.QueuePurge(group, false); err != nil {
				t.Fatal(err)
			}
			publish(t, ch, group, int(v))
		},
		Query:  func(string) any { return &Query{Queue: "{{.Group}}", Value: "ready"} },
		Absent: sourcetest.NoValue, // no such queue
		// The node publishes queue statistics every 500ms (testserver's
		// collect_statistics_interval); a new queue's first may take longer.
		Settle: 5 * time.Second,
	})
}
