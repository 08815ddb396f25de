package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRead50k: one Read of 50,000 groups sharing a labelled query,
// answered by a loopback server with a 50,000-sample vector in
// Prometheus's JSON: the HTTP round trip, decoding, matching and the
// framework's grouping, per tick.
func BenchmarkRead50k(b *testing.B) {
	const n = 50000
	var body strings.Builder
	body.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"metric":{"job":"g%d"},"value":[1700000000.0,"%d"]}`, i, i%97)
	}
	body.WriteString(`]}}`)
	doc := []byte(body.String())
	f := newFake(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	src := openSource(b, testConn(f.URL))
	groups := make([]string, n)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%d", i)
	}
	reqs := reads(Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: defaultValue}, groups...)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		vals := src.Read(ctx, reqs)
		if vals[n-1].Err != nil || vals[n-1].V != float64((n-1)%97) {
			b.Fatalf("last value %+v", vals[n-1])
		}
	}
	b.ReportMetric(float64(f.hits.Load())/float64(b.N), "queries/read")
}
