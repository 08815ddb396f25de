package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/prometheus"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// jobsExporter serves jobs_waiting{job="gN"} = value(N) for n groups, in
// the Prometheus text format, for a real Prometheus to scrape.
func jobsExporter(n int, value func(int) int) *httptest.Server {
	var body strings.Builder
	body.WriteString("# TYPE jobs_waiting gauge\n")
	for i := range n {
		fmt.Fprintf(&body, "jobs_waiting{job=\"g%d\"} %d\n", i, value(i))
	}
	text := body.String()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, text)
	}))
}

// countingProxy forwards to target and counts instant queries.
func countingProxy(target string, queries *atomic.Int64) *httptest.Server {
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/query" {
			queries.Add(1)
		}
		p.ServeHTTP(w, r)
	}))
}

// awaitSeries polls Prometheus until query shows group g(n-1) at want: it
// scrapes every second.
func awaitSeries(t testing.TB, base, query string, n int, want float64) {
	t.Helper()
	conn := &prometheus.Conn{URL: base}
	conn.Timeout, conn.Tries, conn.Concurrency = config.Duration(5*time.Second), 1, 1
	src, err := prometheus.Kind().Open(conn, source.Deps{Name: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	q := &prometheus.Query{Query: query, Label: "job", Value: "{{.Group}}"}
	last := fmt.Sprintf("g%d", n-1)
	for range 150 { // 15s at most
		v := src.Read(context.Background(), []source.Request{{Group: last, Query: q}})[0]
		if v.Err == nil && v.V == want {
			return
		}
		time.Sleep(100 * time.Millisecond) // Prometheus scrapes on its own schedule
	}
	t.Fatalf("Prometheus never showed %d series of %s", n, query)
}

// 1,000 groups reading one templated query cost one query per tick: the
// daemon hands the source every group's read at once, and the query's
// series, grouped by job, answer each group.
func TestThousandGroupsOneQueryPerTick(t *testing.T) {
	const n = 1000
	exp := jobsExporter(n, func(i int) int { return i })
	defer exp.Close()
	prom := testserver.Shared(t, &servers, "prometheus", func() (*testserver.PrometheusServer, error) {
		return testserver.Prometheus()
	})
	if err := prom.SetTargets(strings.TrimPrefix(exp.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	const query = "sum by (job) (jobs_waiting)"
	awaitSeries(t, prom.URL, query, n, n-1)
	var queries atomic.Int64
	proxy := countingProxy(prom.URL, &queries)
	defer proxy.Close()

	var groups strings.Builder
	for i := range n {
		fmt.Fprintf(&groups, `
  - name: g%d
    capacity: {min: 1, max: 200, initial: 1}
    interval: 10s
    signals:
      backlog: {source: prom, prometheus: {query: %q, label: job}}
    policies:
      - queue: {signal: backlog, per_instance: 10}
    behavior:
      up: {limits: [{count: 1000, per: 10s}]}
`, i, query)
	}
	h := newHarnessWith(t, fmt.Sprintf("  prom: {prometheus: {url: %q}}\n", proxy.URL), groups.String(),
		Options{Sources: []source.Kind{prometheus.Kind()}})

	for tick := 1; tick <= 3; tick++ {
		h.decide("g0", 10*time.Second)
		if got := queries.Load(); got != int64(tick) {
			t.Fatalf("after %d ticks deciding %d groups: %d queries; want one per tick", tick, n, got)
		}
	}
	for _, i := range []int{0, 1, 9, 25, 500, 999} {
		dec, ok := h.last(fmt.Sprintf("g%d", i))
		want := max(1, (i+9)/10) // ceil(i / 10), at least min; none within the tolerance of its current 1
		if !ok || dec.Desired != want || dec.Inputs[0].Missing {
			t.Errorf("g%d: %+v, %v; want desired %d from a backlog of %d", i, dec.Desired, dec.Inputs, want, i)
		}
	}
}

// BenchmarkPrometheusTick runs the daemon's decision loop over groups that
// each read their backlog from one templated query of a real Prometheus
// (scraping an exporter with one series per group), ticking as ebb run
// does, and reports per full tick — every group's read and decision — the
// wall time from the round's start to its last decision, the backend
// queries made and the CPU used. The count comes from the environment:
//
//	EBB_BENCH_GROUPS (default 50000)
//
//	go test -run '^$' -bench BenchmarkPrometheusTick -benchtime 5x ./internal/daemon
func BenchmarkPrometheusTick(b *testing.B) {
	n := benchEnvInt(b, "EBB_BENCH_GROUPS", 50000)
	// Backlogs of 0 to 49: every group settles in its first decision, as
	// most groups of a large fleet hold at any time.
	exp := jobsExporter(n, func(i int) int { return i % 50 })
	defer exp.Close()
	prom := testserver.Shared(b, &servers, "prometheus", func() (*testserver.PrometheusServer, error) {
		return testserver.Prometheus()
	})
	if err := prom.SetTargets(strings.TrimPrefix(exp.URL, "http://")); err != nil {
		b.Fatal(err)
	}
	const query = "sum by (job) (jobs_waiting)"
	awaitSeries(b, prom.URL, query, n, float64((n-1)%50))
	var queries atomic.Int64
	proxy := countingProxy(prom.URL, &queries)
	defer proxy.Close()

	dir := b.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "store: {path: %q}\napi: {listen: \"127.0.0.1:0\"}\nsources:\n  prom: {prometheus: {url: %q, timeout: 30s}}\ngroups:\n",
		filepath.Join(dir, "ebb.db"), proxy.URL)
	for i := range n {
		fmt.Fprintf(&cfg, `  - name: g%d
    capacity: {min: 1, max: 50000}
    signals: {backlog: {source: prom, prometheus: {query: %q, label: job}}}
    policies: [{queue: {signal: backlog, per_instance: 10}}]
`, i, query)
	}
	path := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	d, err := New(Options{ConfigPath: path, Clock: clk, Log: slog.New(slog.DiscardHandler), Seed: 1,
		Sources: []source.Kind{prometheus.Kind()}})
	if err != nil {
		b.Fatal(err)
	}
	defer d.st.Close()
	defer d.closeSources()

	// round ticks until every group has been decided once more: the tick
	// that starts the reads, then ticks until they have ended.
	round := func() {
		start := clk.Now()
		d.decide(b.Context())
		for len(d.decidedSince(start)) < n {
			d.mu.Lock()
			r := d.reads["g0"]
			d.mu.Unlock()
			if r != nil {
				r.wait()
			}
			clk.Advance(time.Second)
			d.decide(b.Context())
		}
	}
	round() // the first decisions write every group's state: not steady
	var wall, cpu time.Duration
	q0, w0 := queries.Load(), d.st.Writes()
	b.ResetTimer()
	for range b.N {
		clk.Advance(15 * time.Second)
		c0, t0 := procCPU(b), time.Now()
		round()
		wall += time.Since(t0)
		cpu += procCPU(b) - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/full-tick")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "ms-cpu/full-tick")
	b.ReportMetric(float64(queries.Load()-q0)/float64(b.N), "queries/full-tick")
	b.ReportMetric(float64(d.st.Writes()-w0)/float64(b.N), "store-writes/full-tick")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "MiB-peak-RSS")
}
