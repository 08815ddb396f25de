package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

func conn(endpoint string) *Conn {
	return &Conn{
		Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4},
		AWS: awsconn.AWS{Region: "us-east-1", Endpoint: endpoint,
			AccessKeyID: &config.Secret{Value: "AKIDTEST"}, SecretAccessKey: &config.Secret{Env: "EBB_TEST_SQS_SECRET"}},
	}
}

func openSource(t *testing.T, c *Conn) *source.Source {
	t.Helper()
	t.Setenv("EBB_TEST_SQS_SECRET", "not-a-real-secret")
	src, err := Kind().Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func read(src *source.Source, q *Query, groups ...string) []source.Value {
	reqs := make([]source.Request, len(groups))
	for i, g := range groups {
		reqs[i] = source.Request{Group: g, Query: q}
	}
	return src.Read(context.Background(), reqs)
}

func TestCountsFollowTheQueue(t *testing.T) {
	g := testserver.Shared(t, &servers, "goaws", startGoaws)
	shop := g.unique("shop")
	url := g.createQueue(t, shop+"-jobs")
	lookups := g.count("GetQueueUrl")
	src := openSource(t, conn(g.URL))
	visible := &Query{Queue: "{{.Group}}-jobs", Count: []string{"visible"}}
	inFlight := &Query{Queue: "{{.Group}}-jobs", Count: []string{"not_visible"}}
	both := &Query{Queue: url, Count: []string{"visible", "not_visible"}}
	check := func(want ...float64) {
		t.Helper()
		vals := src.Read(context.Background(), []source.Request{
			{Group: shop, Query: visible}, {Group: shop, Query: inFlight}, {Group: shop, Query: both},
		})
		for i, v := range vals {
			if v.Err != nil || v.V != want[i] {
				t.Fatalf("read %d = %v, %v; want %v", i, v.V, v.Err, want[i])
			}
		}
	}
	check(0, 0, 0)
	g.send(t, url, 5)
	check(5, 0, 5)
	// goaws counts received messages in ApproximateNumberOfMessages too
	// (AWS does not): received and not deleted, they are 5 and 2.
	handles := g.receive(t, url, 2)
	check(5, 2, 7)
	g.remove(t, url, handles)
	check(3, 0, 3)
	// The name was looked up once; every tick asked the attributes once
	// per queue spelling (name and URL are two calls).
	if n := g.count("GetQueueUrl") - lookups; n != 1 {
		t.Errorf("GetQueueUrl calls = %d, want 1", n)
	}
}

func TestManyGroupsOneQueueOneCall(t *testing.T) {
	g := testserver.Shared(t, &servers, "goaws", startGoaws)
	url := g.createQueue(t, g.unique("shared"))
	g.send(t, url, 4)
	src := openSource(t, conn(g.URL))
	groups := make([]string, 50)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%d", i)
	}
	before := g.count("GetQueueAttributes")
	// Half the groups count visible, half visible and in flight: one call
	// asks both attributes.
	reqs := make([]source.Request, len(groups))
	for i, gr := range groups {
		q := &Query{Queue: url, Count: []string{"visible"}}
		if i%2 == 1 {
			q = &Query{Queue: url, Count: []string{"visible", "not_visible"}}
		}
		reqs[i] = source.Request{Group: gr, Query: q}
	}
	for i, v := range src.Read(context.Background(), reqs) {
		if v.Err != nil || v.V != 4 {
			t.Fatalf("%s = %v, %v; want 4", groups[i], v.V, v.Err)
		}
	}
	if n := g.count("GetQueueAttributes") - before; n != 1 {
		t.Fatalf("GetQueueAttributes calls for 50 groups on one queue = %d, want 1", n)
	}
}

func TestMissingQueueHasNoValue(t *testing.T) {
	g := testserver.Shared(t, &servers, "goaws", startGoaws)
	src := openSource(t, conn(g.URL))
	vals := src.Read(context.Background(), []source.Request{
		{Group: "a", Query: &Query{Queue: "no-such-queue", Count: []string{"visible"}}},
		{Group: "b", Query: &Query{Queue: g.URL + "/100010001000/gone", Count: []string{"visible"}}},
		// goaws does not report delayed messages: no value, not zero.
		{Group: "c", Query: &Query{Queue: g.createQueue(t, g.unique("plain")), Count: []string{"delayed"}}},
	})
	for i, want := range []string{"queue no-such-queue", "queue " + g.URL + "/100010001000/gone", "ApproximateNumberOfMessagesDelayed of queue"} {
		if !errors.Is(vals[i].Err, source.ErrNoValue) || !strings.Contains(vals[i].Err.Error(), want) {
			t.Errorf("read %d: err = %v, want no value: %s", i, vals[i].Err, want)
		}
	}
	if h := src.Health(); h.Failing || h.Failures != 0 {
		t.Errorf("a missing queue counted as a failing source: %+v", h)
	}
}

// failing is a loopback SQS endpoint that answers every call with status
// and an AWS JSON error of code, and counts the attempts.
func failing(t *testing.T, status int, code string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type": %q, "message": "Rate exceeded"}`, code)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		attempts int32
		wantErr  string
	}{
		{name: "throttling", status: 400, code: "Throttling", attempts: 3, wantErr: "Throttling: Rate exceeded"},
		{name: "request throttled", status: 400, code: "RequestThrottled", attempts: 3, wantErr: "RequestThrottled"},
		{name: "unavailable", status: 503, code: "ServiceUnavailable", attempts: 3, wantErr: "StatusCode: 503"},
		{name: "access denied", status: 400, code: "AccessDenied", attempts: 1, wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := failing(t, tt.status, tt.code)
			c := conn(srv.URL)
			c.Timeout = config.Duration(200 * time.Millisecond)
			src := openSource(t, c)
			v := read(src, &Query{Queue: srv.URL + "/1/q", Count: []string{"visible"}}, "g")[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), "get attributes of queue") || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if strings.Contains(v.Err.Error(), "not-a-real-secret") {
				t.Fatalf("the secret key is in the error: %v", v.Err)
			}
			if got := n.Load(); got != tt.attempts {
				t.Fatalf("attempts = %d, want %d (the SDK must not retry on its own)", got, tt.attempts)
			}
			if h := src.Health(); !h.Failing || h.LastError == "" {
				t.Fatalf("health = %+v", h)
			}
		})
	}
}

func TestHangingEndpointTimesOut(t *testing.T) {
	l, hung := testserver.Blackhole(t)
	c := conn("http://" + l)
	c.Timeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c)
	start := time.Now()
	v := read(src, &Query{Queue: "http://" + l + "/1/q", Count: []string{"visible"}}, "g")[0]
	if v.Err == nil || !errors.Is(v.Err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", v.Err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v for 2 tries of 200ms", took)
	}
	if got := hung(); got != 2 {
		t.Fatalf("connections = %d, want 2", got)
	}
}

func TestValidate(t *testing.T) {
	good := conn("http://127.0.0.1:4100")
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want []string
	}{
		{name: "good conn", v: good},
		{name: "default chain", v: &Conn{Calls: good.Calls, AWS: awsconn.AWS{Region: "eu-west-1"}}},
		{name: "bad conn", v: &Conn{AWS: awsconn.AWS{Endpoint: "localhost:4100", AccessKeyID: &config.Secret{Value: "x"}}},
			want: []string{"timeout: must be > 0", "region: required", `endpoint: "localhost:4100" is not an http(s) URL`,
				"access_key_id: access_key_id and secret_access_key go together"}},
		{name: "bad secret", v: &Conn{Calls: good.Calls, AWS: awsconn.AWS{Region: "r",
			AccessKeyID: &config.Secret{Value: "x", Env: "Y"}, SecretAccessKey: &config.Secret{File: "f"}}},
			want: []string{"access_key_id: exactly one of value, env and file, not 2"}},
		{name: "good query", v: &Query{Queue: "{{.Group}}-jobs", Count: []string{"visible", "delayed"}}},
		{name: "bad query", v: &Query{Queue: "{{.Nope}}", Count: []string{"visible", "visible", "all"}},
			want: []string{"queue: invalid template", "count[1]: visible is counted twice",
				`count[2]: must be visible, not_visible or delayed, not "all"`}},
		{name: "empty query", v: &Query{}, want: []string{"queue: required", "count: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ke *config.KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("err = %v, want config problems", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant %q", err, w)
				}
			}
		})
	}
}
