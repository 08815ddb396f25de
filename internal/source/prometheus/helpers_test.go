package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/scrape"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// exporter serves the metrics a test sets, for Prometheus to scrape.
type exporter struct {
	srv     *httptest.Server
	waiting *promclient.GaugeVec // jobs_waiting{job}
	sharded *promclient.GaugeVec // jobs_sharded{job,shard}
}

func newExporter() *exporter {
	reg := promclient.NewRegistry()
	e := &exporter{
		waiting: promclient.NewGaugeVec(promclient.GaugeOpts{Name: "jobs_waiting", Help: "Jobs waiting, per job."}, []string{"job"}),
		sharded: promclient.NewGaugeVec(promclient.GaugeOpts{Name: "jobs_sharded", Help: "Jobs waiting, per job and shard."}, []string{"job", "shard"}),
	}
	reg.MustRegister(e.waiting, e.sharded)
	e.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return e
}

// stack is an exporter and a real Prometheus scraping it every second.
type stack struct {
	exp  *exporter
	prom *testserver.PrometheusServer
}

func (s *stack) Stop() {
	s.prom.Stop()
	s.exp.srv.Close()
}

func startStack() (*stack, error) {
	exp := newExporter()
	prom, err := testserver.Prometheus(strings.TrimPrefix(exp.srv.URL, "http://"))
	if err != nil {
		exp.srv.Close()
		return nil, err
	}
	return &stack{exp: exp, prom: prom}, nil
}

func shared(t *testing.T) *stack {
	t.Helper()
	return testserver.Shared(t, &servers, "prometheus", startStack)
}

// counter is a reverse proxy counting the queries it passes on.
type counter struct {
	URL     string
	queries atomic.Int64 // /api/v1/query
	ranges  atomic.Int64 // /api/v1/query_range
}

func countingProxy(t *testing.T, target string) *counter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query":
			c.queries.Add(1)
		case "/api/v1/query_range":
			c.ranges.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// testConn is a connection config with the decoder's defaults written out.
func testConn(url string) *Conn {
	return &Conn{URL: url, Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
}

func openSource(t testing.TB, c *Conn) *source.Source {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("conn: %v", err)
	}
	src, err := Kind().Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// reads asks q for each group.
func reads(q Query, groups ...string) []source.Request {
	out := make([]source.Request, len(groups))
	for i, g := range groups {
		q := q
		out[i] = source.Request{Group: g, Query: &q}
	}
	return out
}

// eventually calls f until it succeeds, for up to 20 s: Prometheus
// scrapes every second, and a value set now is queryable after the next
// scrape.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 50*time.Millisecond, 250*time.Millisecond
	_, err := backoff.Retry(context.Background(), func() (struct{}, error) { return struct{}{}, f() },
		backoff.WithBackOff(b), backoff.WithMaxElapsedTime(20*time.Second))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// want checks a value is v.
func want(got source.Value, v float64) error {
	if got.Err != nil {
		return got.Err
	}
	if got.V != v {
		return fmt.Errorf("value %v, want %v", got.V, v)
	}
	return nil
}

// errContains fails t unless err's message holds every part.
func errContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// promQueries is the count of instant queries Prometheus says it served,
// from its own /metrics.
func promQueries(t *testing.T, base string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := scrape.ParseMetric(body, scrape.Metric{
		Name: "prometheus_http_requests_total", Labels: map[string]string{"handler": "/api/v1/query"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func isNoValue(v source.Value) error {
	if !errors.Is(v.Err, source.ErrNoValue) {
		return fmt.Errorf("err %v, want no value", v.Err)
	}
	return nil
}
