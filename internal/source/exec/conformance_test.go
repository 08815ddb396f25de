package exec

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/sourcetest"
)

// TestConformance reads every group from one JSON document {group: value}
// that a command prints; Set rewrites the document.
func TestConformance(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "doc.json")
	values := map[string]float64{}
	sourcetest.Run(t, sourcetest.Harness{
		Open: func(t *testing.T) *source.Source { return openSource(t, conn()) },
		Set: func(t *testing.T, group string, v float64) {
			values[group] = v
			b, err := json.Marshal(values)
			if err != nil {
				t.Fatal(err)
			}
			write(t, doc, string(b))
		},
		Query:  func(string) any { return &Query{Command: []string{"cat", doc}, Path: "{{.Group}}"} },
		Absent: sourcetest.NoValue, // no such key in the document
	})
}
