package nats

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance gives each group its own consumer of stream CONF,
// filtered to the group's subject: its pending messages are the value.
func TestConformance(t *testing.T) {
	srv, _, js, _ := setup(t, "CONF", "unused")
	published := map[string]int{}
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn(srv.URL)) },
		Set: func(t *testing.T, group string, v float64) {
			subject := "CONF." + group
			if _, ok := published[group]; !ok {
				_, err := js.CreateConsumer(t.Context(), "CONF", jetstream.ConsumerConfig{Durable: group, FilterSubject: subject})
				must(t, err)
			}
			if int(v) < published[group] {
				s, err := js.Stream(t.Context(), "CONF")
				must(t, err)
				must(t, s.Purge(t.Context(), jetstream.WithPurgeSubject(subject)))
				published[group] = 0
			}
			publish(t, js, subject, int(v)-published[group])
			published[group] = int(v)
		},
		Query:  func(string) any { return &Query{Stream: "CONF", Consumer: "{{.Group}}", Value: Pending} },
		Absent: sourcetest.NoValue, // no such consumer
	})
}
