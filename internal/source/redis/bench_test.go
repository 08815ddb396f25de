package redis

import (
	"fmt"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// BenchmarkTick reads a templated list key for 10,000 groups: one pipeline
// of 10,000 LLENs a tick.
func BenchmarkTick(b *testing.B) {
	srv := testserver.Shared(b, &servers, "redis", testserver.Redis)
	src, err := Kind().Open(conn(srv.Addr), source.Deps{Name: "q"})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	q := &Query{List: "bench:{{.Group}}"}
	reqs := make([]source.Request, 10_000)
	for i := range reqs {
		reqs[i] = source.Request{Group: fmt.Sprintf("g%05d", i), Query: q}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range src.Read(b.Context(), reqs) {
			if v.Err != nil {
				b.Fatal(v.Err)
			}
		}
	}
}
