package httpjson

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// defaults is a Conn as the decoder leaves it with no keys written.
func defaults() Conn {
	return Conn{Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
}

func openSource(t *testing.T, c Conn) *source.Source {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("conn does not validate: %v", err)
	}
	src, err := Kind().Open(&c, sourceDeps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func sourceDeps() source.Deps { return source.Deps{Name: "q", Clock: clock.Real{}} }

func read(t *testing.T, src *source.Source, reqs ...source.Request) []source.Value {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return src.Read(ctx, reqs)
}

// numbers returns the values, failing on any error.
func numbers(t *testing.T, vals []source.Value) []float64 {
	t.Helper()
	out := make([]float64, len(vals))
	for i, v := range vals {
		if v.Err != nil {
			t.Fatalf("value %d: %v", i, v.Err)
		}
		out[i] = v.V
	}
	return out
}

func instance(id, url string) *model.Instance {
	return &model.Instance{ID: id, Group: "workers", Addr: strings.TrimPrefix(url, "http://")}
}

func TestTrinoCoordinatorAndWorkers(t *testing.T) {
	coord, w1, w2 := newTrino(t), newTrino(t), newTrino(t)
	conn := defaults()
	conn.Headers = map[string]config.Secret{"X-Trino-User": {Value: "ebb"}}
	src := openSource(t, conn)

	queued := &Query{URL: coord.URL + "/ui/api/stats", Path: "queuedQueries"}
	running := &Query{URL: coord.URL + "/ui/api/stats", Path: "runningQueries"}
	prestoRunning := &Query{URL: coord.URL + "/v1/cluster", Path: "runningQueries"}
	reserved := &Query{URL: "http://{{.Addr}}/v1/status", Path: "memoryInfo.pool.reservedBytes", EachInstance: true}
	poolMax := &Query{URL: "http://{{.Addr}}/v1/status", Path: "memoryInfo.pool.maxBytes", EachInstance: true}
	reqs := []source.Request{
		{Group: "workers", Query: queued},
		{Group: "workers", Query: running},
		{Group: "workers", Query: prestoRunning},
		{Group: "workers", Instance: instance("w1", w1.URL), Query: reserved},
		{Group: "workers", Instance: instance("w1", w1.URL), Query: poolMax},
		{Group: "workers", Instance: instance("w2", w2.URL), Query: reserved},
		{Group: "workers", Instance: instance("w2", w2.URL), Query: poolMax},
	}
	const pool = 34359738368
	steps := []struct {
		queued, running, mem1, mem2 float64
	}{
		{queued: 0, running: 3, mem1: 0, mem2: 0},
		{queued: 12, running: 40, mem1: 8 << 30, mem2: 30 << 30},
		{queued: 1, running: 7, mem1: 1 << 30, mem2: 0},
	}
	for i, s := range steps {
		coord.set(s.queued, s.running, 0)
		w1.set(0, 0, s.mem1)
		w2.set(0, 0, s.mem2)
		got := numbers(t, read(t, src, reqs...))
		want := []float64{s.queued, s.running, s.running, s.mem1, pool, s.mem2, pool}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d (-want +got):\n%s", i, diff)
		}
		// One GET per document: the coordinator's stats once for both
		// signals, each worker's status once for both of its signals.
		n := i + 1
		for _, c := range []struct {
			name, path string
			f          *trino
		}{{"stats", "/ui/api/stats", coord}, {"cluster", "/v1/cluster", coord}, {"w1", "/v1/status", w1}, {"w2", "/v1/status", w2}} {
			if got := c.f.get(c.path); got != n {
				t.Errorf("step %d: %s: %d GETs of %s, want %d", i, c.name, got, c.path, n)
			}
		}
	}
	if got := coord.header("X-Trino-User"); got != "ebb" {
		t.Errorf("X-Trino-User = %q, want ebb", got)
	}
}

// TestTrinoShutdownState checks the fake's drain contract, which
// examples/trino-run.yaml relies on: PUT /v1/info/state needs the user
// header and the JSON string "SHUTTING_DOWN".
func TestTrinoShutdownState(t *testing.T) {
	w := newTrino(t)
	put := func(user, body string) int {
		req, err := http.NewRequest(http.MethodPut, w.URL+"/v1/info/state", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.Header.Set("X-Trino-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		user, body string
		want       int
	}{
		{"", `"SHUTTING_DOWN"`, http.StatusUnauthorized},
		{"ebb", `SHUTTING_DOWN`, http.StatusBadRequest},
		{"ebb", `"GONE"`, http.StatusBadRequest},
		{"ebb", `"SHUTTING_DOWN"`, http.StatusOK},
	} {
		if got := put(c.user, c.body); got != c.want {
			t.Errorf("PUT user=%q body=%s: %d, want %d", c.user, c.body, got, c.want)
		}
	}
	resp, err := http.Get(w.URL + "/v1/info/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != `"SHUTTING_DOWN"` {
		t.Errorf("state = %s, want \"SHUTTING_DOWN\"", got)
	}
}

func TestFlinkAggregatedSubtaskMetrics(t *testing.T) {
	f := newFlink(t)
	src := openSource(t, defaults())
	url := f.URL + "/jobs/" + flinkJob + "/vertices/" + flinkVertex +
		"/subtasks/metrics?get=Source__kafka.pendingRecords,numRecordsInPerSecond,busyTimeMsPerSecond&agg=sum,max"
	backlog := &Query{URL: url, Path: "[id=Source__kafka.pendingRecords].sum"}
	rate := &Query{URL: url, Path: "[id=numRecordsInPerSecond].sum"}
	busy := &Query{URL: url, Path: "[id=busyTimeMsPerSecond].max"}
	reqs := []source.Request{{Group: "clickstream", Query: backlog}, {Group: "clickstream", Query: rate}, {Group: "clickstream", Query: busy}}

	f.set("Source__kafka.pendingRecords", 100, 250, 50)
	f.set("numRecordsInPerSecond", 1000, 1200, 800)
	f.set("busyTimeMsPerSecond", 400, 950, 120)
	if diff := cmp.Diff([]float64{400, 3000, 950}, numbers(t, read(t, src, reqs...))); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	f.set("Source__kafka.pendingRecords", 9000, 12000, 7000)
	f.set("busyTimeMsPerSecond", 1000, 1000, 990)
	if diff := cmp.Diff([]float64{28000, 3000, 1000}, numbers(t, read(t, src, reqs...))); diff != "" {
		t.Fatalf("after the backlog grew (-want +got):\n%s", diff)
	}
	if got := f.get("/jobs/" + flinkJob + "/vertices/" + flinkVertex + "/subtasks/metrics"); got != 2 {
		t.Errorf("%d GETs for 2 reads of 3 signals, want 2", got)
	}

	// A metric Flink does not report (yet) is missing, not an error.
	f.mu.Lock()
	delete(f.subtasks, "busyTimeMsPerSecond")
	f.mu.Unlock()
	v := read(t, src, reqs[2])[0]
	if !errors.Is(v.Err, source.ErrNoValue) || !strings.Contains(v.Err.Error(), `no "[id=busyTimeMsPerSecond]" in the answer`) {
		t.Errorf("err = %v, want no value naming the selector", v.Err)
	}
}

func TestManyGroupsShareOneGET(t *testing.T) {
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		var b strings.Builder
		b.WriteString(`{"groups": {`)
		for i := range 200 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"g%d": {"backlog": %d}`, i, i*10+int(gets.Load()))
		}
		b.WriteString("}}")
		_, _ = w.Write([]byte(b.String()))
	}))
	defer srv.Close()
	src := openSource(t, defaults())
	q := &Query{URL: srv.URL + "/stats", Path: "groups.{{.Group}}.backlog"}
	var reqs []source.Request
	for i := range 200 {
		// Each group has its own signal config, with the same templates.
		reqs = append(reqs, source.Request{Group: fmt.Sprintf("g%d", i), Query: &Query{URL: q.URL, Path: q.Path}})
	}
	reqs = append(reqs, source.Request{Group: "nope", Query: q})
	for round := 1; round <= 2; round++ {
		vals := read(t, src, reqs...)
		for i, v := range vals[:200] {
			if v.Err != nil || v.V != float64(i*10+round) {
				t.Fatalf("round %d group g%d = %v, %v; want %d", round, i, v.V, v.Err, i*10+round)
			}
		}
		if err := vals[200].Err; !errors.Is(err, source.ErrNoValue) {
			t.Errorf("a group absent from the answer: err = %v, want no value", err)
		}
		if got := gets.Load(); got != int64(round) {
			t.Fatalf("round %d: %d GETs in all for 201 groups, want %d", round, got, round)
		}
	}
}

// hanging starts a loopback TCP listener that accepts connections and never
// answers, counting them in accepted, and returns its address.
func hanging(t *testing.T, accepted *atomic.Int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// closedPort returns an address nothing listens on.
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

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
