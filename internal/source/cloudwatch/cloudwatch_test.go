package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func conn(endpoint string) *Conn {
	return &Conn{
		Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4},
		AWS: awsconn.AWS{Region: "us-east-1", Endpoint: endpoint,
			AccessKeyID: &config.Secret{Value: "AKIDTEST"}, SecretAccessKey: &config.Secret{Value: "not-a-real-secret"}},
		Lag:    config.Duration(2 * time.Minute),
		Period: config.Duration(time.Minute),
	}
}

func openSource(t *testing.T, c *Conn, clk clock.Clock) *source.Source {
	t.Helper()
	src, err := Kind().Open(c, source.Deps{Name: "q", Clock: clk})
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

func depth() *Query {
	return &Query{Namespace: "AWS/SQS", Metric: "ApproximateNumberOfMessagesVisible",
		Dimensions: map[string]string{"QueueName": "{{.Group}}-jobs"}, Stat: "Maximum"}
}

func depthKey(group string) string {
	return key("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60, "QueueName="+group+"-jobs")
}

func TestNewestDatapointInTheLaggedWindow(t *testing.T) {
	s := newServer(t)
	clk := clock.NewFake(now)
	src := openSource(t, conn(s.URL), clk)
	s.put(depthKey("a"), now.Add(-10*time.Minute), 1)
	s.put(depthKey("a"), now.Add(-3*time.Minute), 7)
	// Newer than now−lag: CloudWatch may still be filling it in.
	s.put(depthKey("a"), now.Add(-time.Minute), 99)
	s.put(depthKey("b"), now.Add(-4*time.Minute), 2)

	vals := read(src, depth(), "a", "b", "c")
	// Stamped 3m ago, covering a minute, read 2m (lag) later at the
	// soonest: as fresh as CloudWatch gives.
	if v := vals[0]; v.Err != nil || v.V != 7 || !v.At.Equal(now) {
		t.Fatalf("a = %v at %v, %v; want 7 at now (stamped now−3m, + 1m period + 2m lag)", v.V, v.At, v.Err)
	}
	if v := vals[1]; v.Err != nil || v.V != 2 {
		t.Fatalf("b = %v, %v; want 2", v.V, v.Err)
	}
	if err := vals[2].Err; !errors.Is(err, source.ErrNoValue) || !strings.Contains(err.Error(), "QueueName=c-jobs") {
		t.Fatalf("c: err = %v, want no value naming the metric", err)
	}
	w := s.lastWindow()
	if !w[1].Equal(now.Add(-2*time.Minute)) || !w[0].Equal(now.Add(-7*time.Minute)) {
		t.Fatalf("window = %v to %v; want now−7m to now−2m", w[0], w[1])
	}

	// 90s later the window ends at now−30s: the datapoint at now−1m is in.
	clk.Advance(90 * time.Second)
	s.put(depthKey("b"), now.Add(-90*time.Second), 5)
	vals = read(src, depth(), "a", "b")
	if vals[0].V != 99 || vals[1].V != 5 || vals[0].Err != nil || vals[1].Err != nil {
		t.Fatalf("90s later: %+v", vals)
	}
	if got := s.requests(); len(got) != 2 {
		t.Fatalf("requests = %v, want one per tick", got)
	}
}

func TestSixHundredGroupsTwoRequests(t *testing.T) {
	s := newServer(t)
	src := openSource(t, conn(s.URL), clock.NewFake(now))
	groups := make([]string, 600)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%03d", i)
		if i%10 != 9 { // every tenth group has no datapoint
			s.put(depthKey(groups[i]), now.Add(-3*time.Minute), float64(i))
		}
	}
	vals := read(src, depth(), groups...)
	for i, v := range vals {
		if i%10 == 9 {
			if !errors.Is(v.Err, source.ErrNoValue) {
				t.Fatalf("%s: err = %v, want no value", groups[i], v.Err)
			}
			continue
		}
		if v.Err != nil || v.V != float64(i) {
			t.Fatalf("%s = %v, %v; want %d", groups[i], v.V, v.Err, i)
		}
	}
	// One call: a request of 500 statistics and one of 100. Under load the
	// SDK now and then loses a response on a reused loopback connection
	// (aws-sdk-go-v2#2737) and the source tries the call again: each
	// attempt must still be [500 100], cut short only where it failed.
	got, h := s.requests(), src.Health()
	i := 0
	for attempt := range int(h.Calls) {
		if i >= len(got) || got[i] != 500 {
			t.Fatalf("requests (statistics each) = %v over %d attempts; want [500 100] each", got, h.Calls)
		}
		i++
		if i < len(got) && got[i] == 100 {
			i++
		} else if attempt == int(h.Calls)-1 {
			t.Fatalf("requests = %v: the last attempt lacks its 100", got)
		}
	}
	if i != len(got) || h.Failing || h.Calls-h.Failures != 1 {
		t.Fatalf("requests = %v, health %+v; want one successful call of [500 100]", got, h)
	}
}

func TestPeriodAndStatKeepReadsApart(t *testing.T) {
	s := newServer(t)
	src := openSource(t, conn(s.URL), clock.NewFake(now))
	k5 := key("App", "Busy", "p99", 300, "Group=a")
	s.put(k5, now.Add(-20*time.Minute), 0.9)
	s.put(key("App", "Busy", "Average", 60, "Group=a"), now.Add(-3*time.Minute), 0.5)
	q := func(stat string, period time.Duration) *Query {
		return &Query{Namespace: "App", Metric: "Busy", Dimensions: map[string]string{"Group": "{{.Group}}"}, Stat: stat, Period: config.Duration(period)}
	}
	vals := src.Read(context.Background(), []source.Request{
		{Group: "a", Query: q("p99", 5*time.Minute)}, {Group: "a", Query: q("Average", 0)},
	})
	if vals[0].V != 0.9 || vals[1].V != 0.5 || vals[0].Err != nil || vals[1].Err != nil {
		t.Fatalf("= %+v", vals)
	}
	// The window covers five of the longest period.
	if w := s.lastWindow(); !w[0].Equal(now.Add(-27 * time.Minute)) {
		t.Fatalf("window starts %v, want now−27m", w[0])
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		attempts int
		wantErr  string
	}{
		{name: "throttling", status: 400, code: "Throttling", attempts: 3, wantErr: "Throttling: Rate exceeded"},
		{name: "internal error", status: 500, code: "InternalServiceError", attempts: 3, wantErr: "InternalServiceError"},
		{name: "access denied", status: 403, code: "AccessDenied", attempts: 1, wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.failWith(tt.status, tt.code)
			c := conn(s.URL)
			c.Timeout = config.Duration(200 * time.Millisecond)
			src := openSource(t, c, clock.Real{})
			v := read(src, depth(), "a")[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), "get metric data (1 statistics)") || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			if strings.Contains(v.Err.Error(), "not-a-real-secret") {
				t.Fatalf("the secret key is in the error: %v", v.Err)
			}
			if got := len(s.requests()); got != tt.attempts {
				t.Fatalf("attempts = %d, want %d (the SDK must not retry on its own)", got, tt.attempts)
			}
			if h := src.Health(); !h.Failing || !strings.Contains(h.LastError, tt.code) {
				t.Fatalf("health = %+v", h)
			}
		})
	}
}

func TestHangingEndpointTimesOut(t *testing.T) {
	addr, accepted := testserver.Blackhole(t)
	c := conn("http://" + addr)
	c.Timeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c, clock.Real{})
	start := time.Now()
	v := read(src, depth(), "a")[0]
	if v.Err == nil || !errors.Is(v.Err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", v.Err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v for 2 tries of 200ms", took)
	}
	if n := accepted(); n != 2 {
		t.Fatalf("connections = %d, want 2", n)
	}
	if h := src.Health(); !h.Failing || h.Calls != 2 {
		t.Fatalf("health = %+v", h)
	}
}

func TestValidate(t *testing.T) {
	good := conn("https://monitoring.eu-west-1.amazonaws.com")
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want []string
	}{
		{name: "good conn", v: good},
		{name: "bad conn", v: &Conn{Calls: good.Calls, Lag: config.Duration(-time.Second), Period: config.Duration(45 * time.Second)},
			want: []string{"region: required", "lag: must be ≥ 0", "period: must be 1s, 5s, 10s, 30s or a multiple of 60s, not 45s"}},
		{name: "good query", v: &Query{Namespace: "AWS/SQS", Metric: "M", Stat: "p99.9", Period: config.Duration(5 * time.Minute),
			Dimensions: map[string]string{"QueueName": "{{.Group}}"}}},
		{name: "bad query", v: &Query{Stat: "Median", Period: config.Duration(90 * time.Second),
			Dimensions: map[string]string{"QueueName": "{{.Queue}}"}},
			want: []string{"namespace: required", "metric: required", `stat: must be Average, Sum, Maximum, Minimum, SampleCount or pNN, not "Median"`,
				"period: must be 1s, 5s, 10s, 30s or a multiple of 60s, not 1m30s", "dimensions.QueueName: invalid template"}},
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
