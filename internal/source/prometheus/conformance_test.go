package prometheus

import (
	"context"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance sets each group's jobs_waiting{job=group} on the shared
// exporter; one query, summed by job, answers every group.
func TestConformance(t *testing.T) {
	st := shared(t)
	q := Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: "{{.Group}}"}
	// A fresh Prometheus finds its target only after its discovery
	// manager's first update (throttled to 5s), then scrapes: wait for
	// that once, so Settle is only the scrape interval's delay.
	st.exp.waiting.WithLabelValues("conf-warm").Set(1)
	warm := openSource(t, testConn(st.prom.URL))
	eventually(t, "first scrape", func() error {
		return want(warm.Read(context.Background(), reads(q, "conf-warm"))[0], 1)
	})
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, testConn(st.prom.URL)) },
		Set: func(_ *testing.T, group string, v float64) {
			st.exp.waiting.WithLabelValues(group).Set(v)
		},
		Query:  func(string) any { q := q; return &q },
		Absent: sourcetest.NoValue, // no series with the group's job label
		// Prometheus scrapes every second: a Set shows after the next
		// scrape, with room for a slow one under -race.
		Settle: 5 * time.Second,
	})
}
