package httpjson

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance serves {"groups": {group: value}} from a loopback
// server; one GET answers every group's path.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	groups := map[string]float64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, map[string]any{"groups": groups})
	}))
	t.Cleanup(srv.Close)
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, defaults()) },
		Set: func(_ *testing.T, group string, v float64) {
			mu.Lock()
			defer mu.Unlock()
			groups[group] = v
		},
		Query:  func(string) any { return &Query{URL: srv.URL + "/stats", Path: "groups.{{.Group}}"} },
		Absent: sourcetest.NoValue, // a path the answer does not hold
	})
}
