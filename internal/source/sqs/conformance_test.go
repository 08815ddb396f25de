package sqs

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// TestConformance gives each group a queue of its name: its visible
// messages are the value.
func TestConformance(t *testing.T) {
	g := testserver.Shared(t, &servers, "goaws", startGoaws)
	sent := map[string]int{}
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn(g.URL)) },
		Set: func(t *testing.T, group string, v float64) {
			url := g.createQueue(t, group) // the queue it is when it exists
			n, ok := sent[group]
			// goaws's queues outlive a run (-count=N names them again):
			// the first Set of a run empties the queue, as does a lower v.
			if !ok || int(v) < n {
				g.do(t, "PurgeQueue", "QueueUrl", url)
				n = 0
			}
			g.send(t, url, int(v)-n)
			sent[group] = int(v)
		},
		Query:  func(string) any { return &Query{Queue: "{{.Group}}", Count: []string{"visible"}} },
		Absent: sourcetest.NoValue, // no such queue
	})
}
