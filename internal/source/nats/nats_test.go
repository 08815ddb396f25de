package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// conn is a connection config as the decoder leaves it: defaults applied.
func conn(url string) *Conn {
	return &Conn{URL: url, Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
}

// fast is a connection config with short timeouts, for fault tests.
func fast(url string) *Conn {
	c := conn(url)
	c.Timeout = config.Duration(200 * time.Millisecond)
	return c
}

func openSource(t *testing.T, c *Conn) *source.Source {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	src, err := Kind().Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setup connects to the shared server as a client of the queue and makes
// a stream on subject "<stream>.>" with a durable pull consumer.
func setup(t *testing.T, stream, consumer string) (*testserver.NATSServer, *nats.Conn, jetstream.JetStream, jetstream.Consumer) {
	t.Helper()
	srv := testserver.Shared(t, &servers, "nats", testserver.NATS)
	nc, err := nats.Connect(srv.URL)
	must(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	must(t, err)
	ctx := t.Context()
	_ = js.DeleteStream(ctx, stream) // from an earlier -count run
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}})
	must(t, err)
	c, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	must(t, err)
	return srv, nc, js, c
}

func publish(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := range n {
		_, err := js.Publish(t.Context(), subject, fmt.Appendf(nil, "m%d", i))
		must(t, err)
	}
}

// values reads reqs and returns each value, or its error's text.
func values(t *testing.T, src *source.Source, reqs []source.Request) []any {
	t.Helper()
	out := make([]any, len(reqs))
	for i, v := range src.Read(t.Context(), reqs) {
		if v.Err != nil {
			out[i] = v.Err.Error()
		} else {
			out[i] = v.V
		}
	}
	return out
}

func TestConsumerValuesFollowTheServer(t *testing.T) {
	srv, _, js, cons := setup(t, "ORDERS", "workers")
	src := openSource(t, conn(srv.URL))
	q := func(value string) *Query { return &Query{Stream: "{{.Group}}", Consumer: "workers", Value: value} }
	reqs := []source.Request{
		{Group: "ORDERS", Query: q(Pending)},
		{Group: "ORDERS", Query: q(AckPending)},
		{Group: "ORDERS", Query: q(Backlog)},
		{Group: "ORDERS", Query: q(Waiting)},
	}
	if diff := cmp.Diff([]any{0.0, 0.0, 0.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("empty (-want +got):\n%s", diff)
	}
	publish(t, js, "ORDERS.new", 10)
	if diff := cmp.Diff([]any{10.0, 0.0, 10.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("10 published (-want +got):\n%s", diff)
	}
	batch, err := cons.FetchNoWait(4)
	must(t, err)
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 4 {
		t.Fatalf("fetched %d, want 4", len(msgs))
	}
	if diff := cmp.Diff([]any{6.0, 4.0, 10.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("4 fetched, none acked (-want +got):\n%s", diff)
	}
	for _, m := range msgs[:3] {
		must(t, m.DoubleAck(t.Context()))
	}
	if diff := cmp.Diff([]any{6.0, 1.0, 7.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("3 acked (-want +got):\n%s", diff)
	}
	// A pull request waiting for messages, on a consumer that has none.
	idle, err := js.CreateConsumer(t.Context(), "ORDERS", jetstream.ConsumerConfig{Durable: "idle", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = idle.Fetch(1, jetstream.FetchContext(ctx)) // answers at once; the request waits on the server
	must(t, err)
	waiting := source.Request{Group: "ORDERS", Query: &Query{Stream: "ORDERS", Consumer: "idle", Value: Waiting}}
	if got := pollUntil(t, src, waiting, 1); got != 1 {
		t.Fatalf("waiting = %v, want 1 while a pull request waits", got)
	}
	vals := src.Read(t.Context(), reqs[:1])
	// NATS 2.10 and later say when they gathered the info; 2.9 does not,
	// and the value counts as read now.
	if at := vals[0].At; !at.IsZero() && time.Since(at).Abs() > time.Minute {
		t.Errorf("At = %v, want the server's time of the info", at)
	}
}

// pollUntil reads req until it is want, for what the server registers a
// moment after the client asks (a pull request), within 5s.
func pollUntil(t *testing.T, src *source.Source, req source.Request, want float64) float64 {
	t.Helper()
	var v source.Value
	for range 100 {
		v = src.Read(t.Context(), []source.Request{req})[0]
		if v.Err == nil && v.V == want {
			return v.V
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		<-ctx.Done()
		cancel()
	}
	t.Fatalf("read %v, %v; want %v", v.V, v.Err, want)
	return 0
}

func TestOneInfoPerConsumer(t *testing.T) {
	srv, nc, js, _ := setup(t, "JOBS", "pool")
	src := openSource(t, conn(srv.URL))
	// A second connection sees every consumer info request the source makes.
	var infos atomic.Int64
	sub, err := nc.Subscribe("$JS.API.CONSUMER.INFO.>", func(*nats.Msg) { infos.Add(1) })
	must(t, err)
	t.Cleanup(func() { sub.Unsubscribe() })
	must(t, nc.Flush())
	publish(t, js, "JOBS.x", 7)

	pending := &Query{Stream: "JOBS", Consumer: "pool", Value: Pending}
	backlog := &Query{Stream: "JOBS", Consumer: "pool", Value: Backlog}
	var reqs []source.Request
	for i := range 50 {
		g := fmt.Sprintf("g%02d", i)
		reqs = append(reqs, source.Request{Group: g, Query: pending}, source.Request{Group: g, Query: backlog})
	}
	for i, v := range src.Read(t.Context(), reqs) {
		if v.Err != nil || v.V != 7 {
			t.Fatalf("read %d = %v, %v; want 7", i, v.V, v.Err)
		}
	}
	must(t, nc.Flush())
	if n := waitCount(&infos, 1); n != 1 {
		t.Errorf("%d consumer info requests for 2 signals of 50 groups, want 1", n)
	}
	if h := src.Health(); h.Calls != 1 || h.Failing {
		t.Errorf("health = %+v, want one call", h)
	}
	// More ticks, more consumers: still one connection.
	_, err = js.CreateConsumer(t.Context(), "JOBS", jetstream.ConsumerConfig{Durable: "other"})
	must(t, err)
	other := &Query{Stream: "JOBS", Consumer: "other", Value: Pending}
	for range 3 {
		src.Read(t.Context(), append(reqs, source.Request{Group: "x", Query: other}))
	}
	if n := connections(t, srv, "ebb source q"); n != 1 {
		t.Errorf("the server has %d connections from the source, want 1", n)
	}
}

// connections counts the server's client connections named name, from
// its monitor's /connz.
func connections(t *testing.T, srv *testserver.NATSServer, name string) int {
	t.Helper()
	resp, err := http.Get(srv.Monitor + "/connz")
	must(t, err)
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&connz))
	n := 0
	for _, c := range connz.Connections {
		if c.Name == name {
			n++
		}
	}
	return n
}

// waitCount returns c once it reaches want, or what it is after 2s: the
// subscription's handler runs a moment after the request.
func waitCount(c *atomic.Int64, want int64) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for c.Load() < want && ctx.Err() == nil {
		tick, stop := context.WithTimeout(ctx, 10*time.Millisecond)
		<-tick.Done()
		stop()
	}
	// A little longer, to see a request too many.
	settle, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	<-settle.Done()
	stop()
	return c.Load()
}

func TestMissingStreamOrConsumer(t *testing.T) {
	srv, _, _, _ := setup(t, "REAL", "here")
	src := openSource(t, conn(srv.URL))
	got := values(t, src, []source.Request{
		{Group: "g", Query: &Query{Stream: "NOPE", Consumer: "here", Value: Pending}},
		{Group: "g", Query: &Query{Stream: "REAL", Consumer: "gone", Value: Pending}},
		{Group: "a.b", Query: &Query{Stream: "S-{{.Group}}", Consumer: "here", Value: Pending}},
		{Group: "g", Query: &Query{Stream: "REAL", Consumer: "here", Value: Pending}},
	})
	want := []any{
		"no value: no stream NOPE",
		"no value: no consumer gone on stream REAL",
		`stream "S-a.b": a stream or consumer name has no '.', '*', '>', whitespace, '/' or '\'`,
		0.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if h := src.Health(); h.Failing {
		t.Errorf("health = %+v; a missing consumer is the read's, not the source's", h)
	}
}

func TestServerThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int64
	go func() {
		var held []net.Conn // open and silent: no INFO
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held = append(held, c)
		}
	}()
	url := "nats://" + l.Addr().String()
	src := openSource(t, fast(url))
	start := time.Now()
	v := src.Read(t.Context(), []source.Request{{Group: "g", Query: &Query{Stream: "S", Consumer: "c", Value: Pending}}})[0]
	took := time.Since(start)
	if v.Err == nil || !strings.Contains(v.Err.Error(), "connect to "+url) || !source.Transient(v.Err) {
		t.Fatalf("err = %v, want a transient failure to connect naming the server", v.Err)
	}
	h := src.Health()
	if h.Calls != 3 || h.Failures != 3 || !h.Failing || h.LastError != v.Err.Error() {
		t.Errorf("health = %+v, want 3 failed attempts", h)
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (one per attempt)", n)
	}
	if took > 3*time.Second {
		t.Errorf("took %v; 3 attempts of 200ms and their backoff should not", took)
	}
	t.Logf("err: %v", v.Err)
}

func TestServerStopped(t *testing.T) {
	srv := testserver.Own(t, testserver.NATS)
	nc, err := nats.Connect(srv.URL)
	must(t, err)
	js, err := jetstream.New(nc)
	must(t, err)
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	must(t, err)
	_, err = js.CreateConsumer(t.Context(), "S", jetstream.ConsumerConfig{Durable: "c"})
	must(t, err)
	nc.Close()

	src := openSource(t, fast(srv.URL))
	req := []source.Request{{Group: "g", Query: &Query{Stream: "S", Consumer: "c", Value: Pending}}}
	if v := src.Read(t.Context(), req)[0]; v.Err != nil || v.V != 0 {
		t.Fatalf("before the stop: %v, %v", v.V, v.Err)
	}
	srv.Stop()
	v := src.Read(t.Context(), req)[0]
	if v.Err == nil || !source.Transient(v.Err) || !strings.Contains(v.Err.Error(), "consumer info S/c") {
		t.Fatalf("err = %v, want a transient error naming the consumer", v.Err)
	}
	h := src.Health()
	if h.Calls != 4 || h.Failures != 3 || !h.Failing {
		t.Errorf("health = %+v, want 1 good call then 3 failed attempts", h)
	}
	t.Logf("err: %v", v.Err)
}

func TestNoServer(t *testing.T) {
	port, err := testserver.FreePort()
	must(t, err)
	src := openSource(t, fast(fmt.Sprintf("nats://127.0.0.1:%d", port)))
	v := src.Read(t.Context(), []source.Request{{Group: "g", Query: &Query{Stream: "S", Consumer: "c", Value: Pending}}})[0]
	if v.Err == nil || !source.Transient(v.Err) {
		t.Fatalf("err = %v, want transient", v.Err)
	}
	if h := src.Health(); h.Calls != 3 || !h.Failing {
		t.Errorf("health = %+v, want 3 failed attempts", h)
	}
	t.Logf("err: %v", v.Err)
}

func TestPushConsumer(t *testing.T) {
	srv, _, js, _ := setup(t, "PUSHED", "unused")
	_, err := js.CreateOrUpdatePushConsumer(t.Context(), "PUSHED", jetstream.ConsumerConfig{Durable: "pushed", DeliverSubject: "deliver.pushed", AckPolicy: jetstream.AckExplicitPolicy})
	must(t, err)
	publish(t, js, "PUSHED.a", 3)
	src := openSource(t, conn(srv.URL))
	v := src.Read(t.Context(), []source.Request{{Group: "g", Query: &Query{Stream: "PUSHED", Consumer: "pushed", Value: Pending}}})[0]
	if v.Err != nil || v.V != 3 {
		t.Fatalf("= %v, %v; want 3", v.V, v.Err)
	}
}

func TestCredentials(t *testing.T) {
	const token, password = "t0ken-Secret", "pa55-Secret"
	tokenSrv := testserver.Shared(t, &servers, "nats-token", func() (*testserver.NATSServer, error) {
		return testserver.NATSWith("--auth", token)
	})
	userSrv := testserver.Shared(t, &servers, "nats-user", func() (*testserver.NATSServer, error) {
		return testserver.NATSWith("--user", "ebb", "--pass", password)
	})
	dir := t.TempDir()
	must(t, os.WriteFile(dir+"/password", []byte(password+"\n"), 0o600))
	t.Setenv("EBB_TEST_NATS_TOKEN", token)
	t.Setenv("EBB_TEST_NATS_WRONG", "not-"+password)
	req := []source.Request{{Group: "g", Query: &Query{Stream: "S", Consumer: "c", Value: Pending}}}
	tests := []struct {
		name    string
		conn    *Conn
		wantErr string // empty: connected, and the stream is missing
	}{
		{name: "token from env", conn: &Conn{URL: tokenSrv.URL, Token: &config.Secret{Env: "EBB_TEST_NATS_TOKEN"}}},
		{name: "password from file", conn: &Conn{URL: userSrv.URL, User: "ebb", Password: &config.Secret{File: dir + "/password"}}},
		{name: "wrong password", conn: &Conn{URL: userSrv.URL, User: "ebb", Password: &config.Secret{Env: "EBB_TEST_NATS_WRONG"}},
			wantErr: "connect to " + userSrv.URL + ": nats: Authorization Violation"},
		{name: "no token", conn: &Conn{URL: tokenSrv.URL}, wantErr: "nats: Authorization Violation"},
		{name: "unset env", conn: &Conn{URL: tokenSrv.URL, Token: &config.Secret{Env: "EBB_TEST_NATS_UNSET"}},
			wantErr: "nats token (env:EBB_TEST_NATS_UNSET): environment variable EBB_TEST_NATS_UNSET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.conn.Calls = fast("").Calls
			src := openSource(t, tt.conn)
			v := src.Read(t.Context(), req)[0]
			if tt.wantErr == "" {
				if !errors.Is(v.Err, source.ErrNoValue) {
					t.Fatalf("err = %v, want no stream S (connected)", v.Err)
				}
				return
			}
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if strings.Contains(v.Err.Error(), password) || strings.Contains(v.Err.Error(), token) {
				t.Fatalf("the error shows a secret: %v", v.Err)
			}
			if h := src.Health(); h.Calls != 1 || !h.Failing {
				t.Errorf("health = %+v, want one attempt: bad credentials are permanent", h)
			}
		})
	}
}
