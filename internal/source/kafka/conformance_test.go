package kafka

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// TestConformance gives each group a consumer group of its name committing
// to partition 0 of one topic holding end records: end minus the group's
// commit is the value. The records are produced once, up front: producing
// more for one group would raise every other group's lag.
func TestConformance(t *testing.T) {
	c := testserver.Shared(t, &servers, "kafka", newCluster)
	brokers := c.ListenAddrs()
	cl, adm := admin(t, brokers)
	// A topic of this run's own: on a cluster shared by -count=N runs, the
	// groups of an earlier run (same names) committed to another topic.
	topic := c.topic(t, adm, "conf")
	const end = 100
	produce(t, cl, topic, end)
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn(brokers)) },
		Set: func(t *testing.T, group string, v float64) {
			if v < 0 || v > end {
				t.Fatalf("lag %v of %s: the topic holds %d records", v, group, end)
			}
			commit(t, adm, group, topic, end-int64(v), 0, 0)
		},
		Query:  func(string) any { return &Query{Group: "{{.Group}}", Topic: topic, Value: "total"} },
		Absent: sourcetest.NoValue, // no such consumer group
	})
}
