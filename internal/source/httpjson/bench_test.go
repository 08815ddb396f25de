package httpjson

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// BenchmarkManyGroups reads 50,000 groups' paths from one document: one
// GET, one decode, a template render and path walk per group.
func BenchmarkManyGroups(b *testing.B) {
	const groups = 50000
	var doc strings.Builder
	doc.WriteString(`{"groups": {`)
	for i := range groups {
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `"g%d": {"backlog": %d}`, i, i)
	}
	doc.WriteString("}}")
	body := []byte(doc.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	c := defaults()
	src, err := Kind().Open(&c, sourceDeps())
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	reqs := make([]source.Request, groups)
	for i := range reqs {
		reqs[i] = source.Request{Group: fmt.Sprintf("g%d", i), Query: &Query{URL: srv.URL + "/stats", Path: "groups.{{.Group}}.backlog"}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		vals := src.Read(context.Background(), reqs)
		if vals[groups-1].Err != nil || vals[groups-1].V != groups-1 {
			b.Fatalf("last = %v, %v", vals[groups-1].V, vals[groups-1].Err)
		}
	}
}
