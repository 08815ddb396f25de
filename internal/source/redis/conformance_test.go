package redis

import (
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	srv, rdb := shared(t)
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn(srv.Addr)) },
		Set: func(t *testing.T, group string, v float64) {
			key := "conf:" + group
			must(t, rdb.Del(t.Context(), key).Err())
			must(t, rdb.RPush(t.Context(), key, items(int(v))...).Err())
		},
		Query:  func(string) any { return &Query{List: "conf:{{.Group}}"} },
		Absent: sourcetest.Zero, // LLEN of a missing list is 0
	})
}
