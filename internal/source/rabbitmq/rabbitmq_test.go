package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

func conn(url string) *Conn {
	return &Conn{
		URL:   url,
		VHost: "/",
		Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4},
	}
}

// counter counts the HTTP requests a source makes.
type counter struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// openSource opens a source through the framework, its requests counted.
func openSource(t *testing.T, c *Conn) (*source.Source, *counter) {
	t.Helper()
	cnt := &counter{}
	k := source.NewKind[Conn, Query]("rabbitmq", "", source.Named, func(c *Conn, _ source.Deps) (source.Backend[Query], error) {
		return openWith(c, func(next http.RoundTripper) http.RoundTripper { cnt.next = next; return cnt })
	})
	src, err := k.Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, cnt
}

// channel opens an AMQP channel to the shared broker.
func channel(t *testing.T, srv *testserver.RabbitMQServer) *amqp.Channel {
	t.Helper()
	c, err := amqp.Dial(srv.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func declare(t *testing.T, ch *amqp.Channel, name string) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	for i := range n {
		err := ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
}

type got struct {
	V   float64
	Err string
}

func values(vals []source.Value) []got {
	out := make([]got, len(vals))
	for i, v := range vals {
		out[i] = got{V: v.V}
		if v.Err != nil {
			out[i] = got{Err: v.Err.Error()}
		}
	}
	return out
}

// eventually reads reqs until they answer want, or 15s: the node
// publishes its statistics every second (testserver's setting). It returns the last answer.
func eventually(t *testing.T, src *source.Source, reqs []source.Request, want []got) []got {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last []got
	for range 150 {
		last = values(src.Read(context.Background(), reqs))
		if cmp.Equal(want, last) {
			return last
		}
		<-tick.C
	}
	t.Fatalf("values never became what was wanted (-want +got):\n%s", cmp.Diff(want, last))
	return last
}

func TestValuesFollowTheQueue(t *testing.T) {
	srv := testserver.Shared(t, &servers, "rabbitmq", testserver.RabbitMQ)
	ch := channel(t, srv)
	declare(t, ch, "render.jobs")
	src, _ := openSource(t, conn(srv.Management))
	reqs := []source.Request{}
	for _, v := range []string{"ready", "unacked", "messages", "consumers"} {
		reqs = append(reqs, source.Request{Group: "render", Query: &Query{Queue: "{{.Group}}.jobs", Value: v}})
	}
	reqs = append(reqs, source.Request{Group: "nope", Query: &Query{Queue: "{{.Group}}.jobs", Value: "ready"}})
	noQueue := got{Err: `no value: no queue "nope.jobs" in vhost "/"`}
	eventually(t, src, reqs, []got{{V: 0}, {V: 0}, {V: 0}, {V: 0}, noQueue})

	publish(t, ch, "render.jobs", 5)
	eventually(t, src, reqs, []got{{V: 5}, {V: 0}, {V: 5}, {V: 0}, noQueue})

	// A consumer takes 2 and holds them unacknowledged.
	consumer := channel(t, srv)
	if err := consumer.Qos(2, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := consumer.Consume("render.jobs", "worker", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-deliveries
	}
	eventually(t, src, reqs, []got{{V: 3}, {V: 2}, {V: 5}, {V: 1}, noQueue})
}

func TestOneCallForAHundredQueues(t *testing.T) {
	srv := testserver.Shared(t, &servers, "rabbitmq", testserver.RabbitMQ)
	ch := channel(t, srv)
	var reqs []source.Request
	var want []got
	for i := range 100 {
		group := fmt.Sprintf("batch%d", i)
		declare(t, ch, group)
		publish(t, ch, group, i%4)
		reqs = append(reqs,
			source.Request{Group: group, Query: &Query{Queue: "{{.Group}}", Value: "ready"}},
			source.Request{Group: group, Query: &Query{Queue: "{{.Group}}", Value: "consumers"}},
			source.Request{Group: group, Query: &Query{Queue: "{{.Group}}", Value: "ready"}},
		)
		want = append(want, got{V: float64(i % 4)}, got{V: 0}, got{V: float64(i % 4)})
	}
	src, calls := openSource(t, conn(srv.Management))
	eventually(t, src, reqs, want)
	calls.n.Store(0)
	if diff := cmp.Diff(want, values(src.Read(context.Background(), reqs))); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if n := calls.n.Load(); n != 1 {
		t.Fatalf("%d HTTP requests for 100 queues, want 1", n)
	}
}

func TestRefusedIsNotRetried(t *testing.T) {
	srv := testserver.Shared(t, &servers, "rabbitmq", testserver.RabbitMQ)
	secret := filepathFor(t, "not-the-password-1234")
	tests := []struct {
		name    string
		edit    func(c *Conn)
		wantErr string
	}{
		{
			name: "wrong password",
			edit: func(c *Conn) {
				c.BasicAuth = &config.BasicAuth{Username: "guest", Password: config.Secret{File: secret}}
			},
			wantErr: `list queues of vhost "/" as guest: 401 Unauthorized`,
		},
		{name: "no such vhost", edit: func(c *Conn) { c.VHost = "missing" }, wantErr: `list queues: vhost "missing" not found (404 Not Found)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn(srv.Management)
			tt.edit(c)
			src, calls := openSource(t, c)
			v := src.Read(context.Background(), []source.Request{{Group: "g", Query: &Query{Queue: "q", Value: "ready"}}})[0]
			if v.Err == nil || v.Err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if strings.Contains(v.Err.Error(), "not-the-password") {
				t.Fatalf("the error shows the password: %v", v.Err)
			}
			if h := src.Health(); calls.n.Load() != 1 || h.Calls != 1 || !h.Failing || h.LastError != tt.wantErr {
				t.Fatalf("%d requests, health %+v; want one permanent failure", calls.n.Load(), h)
			}
		})
	}
}

func filepathFor(t *testing.T, password string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "password")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(password + "\n"); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func TestFaults(t *testing.T) {
	var hits atomic.Int64
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	var throttled atomic.Int64
	throttle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		throttled.Add(1)
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer throttle.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<html>not the API</html>`))
	}))
	defer garbage.Close()
	hung, accepted := testserver.Blackhole(t)
	closed, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		url     string
		count   func() int64
		tries   uint64
		wantErr string
	}{
		{name: "503", url: busy.URL, count: hits.Load, tries: 3, wantErr: "503 Service Unavailable"},
		{name: "429", url: throttle.URL, count: throttled.Load, tries: 3, wantErr: "429 Too Many Requests"},
		{name: "hang", url: "http://" + hung, count: func() int64 { return int64(accepted()) }, tries: 3, wantErr: "context deadline exceeded"},
		{name: "closed port", url: fmt.Sprintf("http://127.0.0.1:%d", closed), tries: 3, wantErr: "connection refused"},
		{name: "not the API", url: garbage.URL, tries: 1, wantErr: "decode the queues of vhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn(tt.url)
			c.Timeout = config.Duration(200 * time.Millisecond)
			src, calls := openSource(t, c)
			var before int64
			if tt.count != nil {
				before = tt.count()
			}
			start := time.Now()
			v := src.Read(context.Background(), []source.Request{{Group: "g", Query: &Query{Queue: "q", Value: "ready"}}})[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("took %v", took)
			}
			h := src.Health()
			if h.Calls != tt.tries || h.Failures != tt.tries || !h.Failing || !strings.Contains(h.LastError, tt.wantErr) {
				t.Fatalf("health = %+v; want %d failed tries", h, tt.tries)
			}
			if calls.n.Load() != int64(tt.tries) {
				t.Fatalf("%d requests, want %d", calls.n.Load(), tt.tries)
			}
			if tt.count != nil && tt.count()-before != int64(tt.tries) {
				t.Fatalf("the server saw %d requests, want %d", tt.count()-before, tt.tries)
			}
		})
	}
}

func TestServerGoesAway(t *testing.T) {
	srv := testserver.Own(t, testserver.RabbitMQ)
	c := conn(srv.Management)
	c.Timeout = config.Duration(500 * time.Millisecond)
	src, _ := openSource(t, c)
	reqs := []source.Request{{Group: "g", Query: &Query{Queue: "q", Value: "ready"}}}
	if v := src.Read(context.Background(), reqs)[0]; !errors.Is(v.Err, source.ErrNoValue) {
		t.Fatalf("= %v, %v; want no value", v.V, v.Err)
	}
	srv.Stop()
	v := src.Read(context.Background(), reqs)[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "connection refused") {
		t.Fatalf("= %v, %v; want connection refused", v.V, v.Err)
	}
	if h := src.Health(); h.Calls != 4 || h.Failures != 3 || !h.Failing {
		t.Fatalf("health = %+v; want 3 failed tries after one good call", h)
	}
}

func TestListingAsTheAPIWritesIt(t *testing.T) {
	var path, query, auth string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query = r.URL.EscapedPath(), r.URL.RawQuery
		user, password, _ := r.BasicAuth()
		auth = user + ":" + password
		w.Write([]byte(`[{"name":"new"},{"name":"a/b","messages_ready":4,"messages_unacknowledged":3,"consumers":2}]`))
	}))
	defer api.Close()
	t.Setenv("EBB_TEST_RABBIT_PASSWORD", "s3cret")
	c := conn(api.URL + "/")
	c.VHost = "prod/eu"
	c.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "EBB_TEST_RABBIT_PASSWORD"}}
	src, _ := openSource(t, c)
	var reqs []source.Request
	for _, v := range []string{"ready", "unacked", "messages", "consumers"} {
		reqs = append(reqs, source.Request{Group: "a/b", Query: &Query{Queue: "{{.Group}}", Value: v}})
	}
	reqs = append(reqs, source.Request{Group: "new", Query: &Query{Queue: "{{.Group}}", Value: "messages"}})
	want := []got{{V: 4}, {V: 3}, {V: 7}, {V: 2}, {Err: `no value: no statistics yet for queue "new"`}}
	if diff := cmp.Diff(want, values(src.Read(context.Background(), reqs))); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if path != "/api/queues/prod%2Feu" || query != "columns=name,messages_ready,messages_unacknowledged,consumers" || auth != "ebb:s3cret" {
		t.Fatalf("asked %s?%s as %s", path, query, auth)
	}
}
