package scrape

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// worker is an instance exposing /metrics with client_golang, the way
// services do, and counting its scrapes.
type worker struct {
	*httptest.Server
	busy    prometheus.Gauge
	jobs    *prometheus.CounterVec
	scrapes atomic.Int64
}

func newWorker(t *testing.T) *worker {
	reg := prometheus.NewRegistry()
	w := &worker{
		busy: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ebb_worker_busy", Help: "Busy workers."}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs done."}, []string{"queue"}),
	}
	reg.MustRegister(w.busy, w.jobs)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.scrapes.Add(1)
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *worker) instance(id string) *model.Instance {
	return &model.Instance{ID: id, Group: "web", Addr: strings.TrimPrefix(w.URL, "http://")}
}

func defaults() Conn {
	return Conn{Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
}

func openSource(t *testing.T, c Conn) *source.Source {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("conn does not validate: %v", err)
	}
	src, err := Kind().Open(&c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func read(t *testing.T, src *source.Source, reqs ...source.Request) []source.Value {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return src.Read(ctx, reqs)
}

func query(metric string, labels map[string]string) *Query {
	return &Query{Metric: metric, Labels: labels, URL: "http://{{.Addr}}/metrics"}
}

func TestOneScrapePerInstanceForEverySignal(t *testing.T) {
	w1, w2 := newWorker(t), newWorker(t)
	src := openSource(t, defaults())
	busy := query("ebb_worker_busy", nil)
	jobs := query("jobs_total", nil)
	jobsA := query("jobs_total", map[string]string{"queue": "a"})
	var reqs []source.Request
	for _, in := range []*model.Instance{w1.instance("w1"), w2.instance("w2")} {
		for _, q := range []*Query{busy, jobs, jobsA} {
			reqs = append(reqs, source.Request{Group: "web", Instance: in, Query: q})
		}
	}
	// A second group's signal with the same metric on w1 (another Query
	// value, same ask) shares the GET and the answer.
	reqs = append(reqs, source.Request{Group: "web", Instance: w1.instance("w1"), Query: query("ebb_worker_busy", nil)})

	values := func() []float64 {
		var out []float64
		for i, v := range read(t, src, reqs...) {
			if v.Err != nil {
				t.Fatalf("read %d: %v", i, v.Err)
			}
			out = append(out, v.V)
		}
		return out
	}
	w1.busy.Set(1)
	w1.jobs.WithLabelValues("a").Add(10)
	w1.jobs.WithLabelValues("b").Add(5)
	w2.jobs.WithLabelValues("a").Add(0)
	if diff := cmp.Diff([]float64{1, 15, 10, 0, 0, 0, 1}, values()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	w1.busy.Set(0)
	w2.busy.Set(1)
	w2.jobs.WithLabelValues("a").Add(3)
	w1.jobs.WithLabelValues("b").Add(1)
	if diff := cmp.Diff([]float64{0, 16, 10, 1, 3, 3, 0}, values()); diff != "" {
		t.Fatalf("after work (-want +got):\n%s", diff)
	}
	if a, b := w1.scrapes.Load(), w2.scrapes.Load(); a != 2 || b != 2 {
		t.Errorf("scrapes = %d, %d for 2 reads of 4 and 3 signals; want 2, 2", a, b)
	}
}

func TestAbsentMetricIsNoValue(t *testing.T) {
	w := newWorker(t)
	src := openSource(t, defaults())
	in := w.instance("w1")
	vals := read(t, src,
		source.Request{Group: "web", Instance: in, Query: query("nope", nil)},
		source.Request{Group: "web", Instance: in, Query: query("jobs_total", map[string]string{"queue": "z"})})
	for i, want := range []string{"metric nope at http://", `metric jobs_total{queue="z"} at http://`} {
		if err := vals[i].Err; !errors.Is(err, source.ErrNoValue) || !strings.Contains(err.Error(), want) {
			t.Errorf("read %d: err = %v, want no value with %q", i, err, want)
		}
	}
	if h := src.Health(); h.Failing {
		t.Errorf("a missing metric marks the source failing: %+v", h)
	}
	// The framework hands a scrape an instance; a read without one is a
	// mistake, said plainly.
	if err := read(t, src, source.Request{Group: "web", Query: query("x", nil)})[0].Err; err == nil || !strings.Contains(err.Error(), "reads instances") {
		t.Errorf("without an instance: %v", err)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		addr  func(n *atomic.Int64) string
		tries int
		want  string
		calls int64
	}{
		{name: "hangs", addr: func(n *atomic.Int64) string { return hanging(t, n) }, tries: 2, want: "context deadline exceeded", calls: 2},
		{name: "503", addr: func(n *atomic.Int64) string { return status(t, http.StatusServiceUnavailable, "", n) }, tries: 3, want: "503 Service Unavailable", calls: 3},
		{name: "401 is not retried", addr: func(n *atomic.Int64) string { return status(t, http.StatusUnauthorized, "", n) }, tries: 3, want: "401 Unauthorized", calls: 1},
		{name: "closed port", addr: func(n *atomic.Int64) string { return closedPort(t) }, tries: 2, want: "connection refused", calls: -1},
		{name: "garbage", addr: func(n *atomic.Int64) string { return status(t, http.StatusOK, "this is { not metrics", n) }, tries: 3, want: "parse metrics", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			addr := tt.addr(&n)
			c := defaults()
			c.Timeout, c.Tries = config.Duration(200*time.Millisecond), tt.tries
			src := openSource(t, c)
			v := read(t, src, source.Request{Group: "web", Instance: &model.Instance{ID: "i", Addr: addr}, Query: query("x", nil)})[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", v.Err, tt.want)
			}
			if tt.calls >= 0 && n.Load() != tt.calls {
				t.Errorf("server saw %d attempts, want %d", n.Load(), tt.calls)
			}
			if h := src.Health(); !h.Failing || !strings.Contains(h.LastError, tt.want) {
				t.Errorf("health = %+v, want failing with %q", h, tt.want)
			}
		})
	}
}

// A server stopped mid-test: reads fail with a clear error, and succeed
// again once an instance answers at the address.
func TestServerGoesAway(t *testing.T) {
	w := newWorker(t)
	w.busy.Set(4)
	c := defaults()
	c.Timeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c)
	in := w.instance("w1")
	if v := read(t, src, source.Request{Group: "web", Instance: in, Query: query("ebb_worker_busy", nil)})[0]; v.Err != nil || v.V != 4 {
		t.Fatalf("= %v, %v", v.V, v.Err)
	}
	w.Close()
	v := read(t, src, source.Request{Group: "web", Instance: in, Query: query("ebb_worker_busy", nil)})[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "get http://"+in.Addr+"/metrics") {
		t.Fatalf("after stop: err = %v", v.Err)
	}
	if h := src.Health(); !h.Failing || h.Calls != 3 {
		t.Errorf("health = %+v, want failing after 1 + 2 attempts", h)
	}
}

func status(t *testing.T, code int, body string, n *atomic.Int64) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// hanging starts a loopback TCP listener that accepts connections and never
// answers, counting them in accepted, and returns its address.
func hanging(t *testing.T, accepted *atomic.Int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			accepted.Add(1)
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCredentialsSent(t *testing.T) {
	t.Setenv("EBB_TEST_SCRAPE_PASSWORD", "p-9c2e")
	var user, pass atomic.Value
	w := newWorker(t)
	w.busy.Set(2)
	inner := w.Config.Handler
	w.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		user.Store(u)
		pass.Store(p)
		inner.ServeHTTP(rw, r)
	})
	c := defaults()
	c.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "EBB_TEST_SCRAPE_PASSWORD"}}
	src := openSource(t, c)
	if v := read(t, src, source.Request{Group: "web", Instance: w.instance("w1"), Query: query("ebb_worker_busy", nil)})[0]; v.Err != nil || v.V != 2 {
		t.Fatalf("= %v, %v", v.V, v.Err)
	}
	if user.Load() != "ebb" || pass.Load() != "p-9c2e" {
		t.Errorf("basic auth sent: %v %v", user.Load(), pass.Load())
	}
}
