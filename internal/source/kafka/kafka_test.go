package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// cluster is kfake's in-process Kafka: the real protocol on loopback. The
// tests of a package share one, so each names its topics and groups
// afresh (unique), and -count=N runs again on a clean slate.
type cluster struct {
	*kfake.Cluster
	seq *atomic.Int64
}

func (c cluster) Stop() { c.Close() }

func newCluster() (cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2))
	return cluster{c, new(atomic.Int64)}, err
}

// unique returns base with a number no other name of the cluster has.
func (c cluster) unique(base string) string { return fmt.Sprintf("%s%d", base, c.seq.Add(1)) }

// topic creates a topic of three partitions with a unique name.
func (c cluster) topic(t *testing.T, adm *kadm.Client, base string) string {
	t.Helper()
	name := c.unique(base)
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, name); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

func conn(brokers []string) *Conn {
	return &Conn{Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}, Brokers: brokers}
}

// counter counts the requests the source's client writes, by API key.
type counter struct {
	mu sync.Mutex
	n  map[int16]int
}

func (c *counter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int16]int{}
	}
	c.n[key]++
}

func (c *counter) take() map[int16]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// openSource opens the kind through the framework, with hooks on its client.
func openSource(t *testing.T, c *Conn, hooks ...kgo.Hook) *source.Source {
	t.Helper()
	k := source.NewKind[Conn, Query]("kafka", "", source.Named, func(c *Conn, _ source.Deps) (source.Backend[Query], error) {
		return newBackend(c, kgo.WithHooks(hooks...))
	})
	src, err := k.Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// admin is a client of the test's own, to produce and commit.
func admin(t *testing.T, brokers []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func produce(t *testing.T, cl *kgo.Client, topic string, counts ...int) {
	t.Helper()
	var recs []*kgo.Record
	for p, n := range counts {
		for range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("x")})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, adm *kadm.Client, group, topic string, at ...int64) {
	t.Helper()
	var os kadm.Offsets
	for p, o := range at {
		os.AddOffset(topic, int32(p), o, -1)
	}
	resp, err := adm.CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s: %v", group, err)
	}
}

func read(src *source.Source, q *Query, groups ...string) []source.Value {
	reqs := make([]source.Request, len(groups))
	for i, g := range groups {
		reqs[i] = source.Request{Group: g, Query: q}
	}
	return src.Read(context.Background(), reqs)
}

func TestLagFollowsCommits(t *testing.T) {
	c := testserver.Shared(t, &servers, "kafka", newCluster)
	brokers := c.ListenAddrs()
	cl, adm := admin(t, brokers)
	orders, audit, shop := c.topic(t, adm, "orders"), c.topic(t, adm, "audit"), c.unique("shop")
	workers := shop + "-workers"
	produce(t, cl, orders, 10, 20, 5)
	produce(t, cl, audit, 7, 0, 0)
	commit(t, adm, workers, orders, 4, 20, 0)
	commit(t, adm, workers, audit, 2, 0, 0)

	src := openSource(t, conn(brokers))
	total := &Query{Group: "{{.Group}}-workers", Value: "total"}
	ofOrders := &Query{Group: "{{.Group}}-workers", Topic: orders, Value: "total"}
	most := &Query{Group: "{{.Group}}-workers", Topic: orders, Value: "max_partition"}
	check := func(want ...float64) {
		t.Helper()
		vals := src.Read(context.Background(), []source.Request{
			{Group: shop, Query: total}, {Group: shop, Query: ofOrders}, {Group: shop, Query: most},
		})
		for i, v := range vals {
			if v.Err != nil || v.V != want[i] {
				t.Fatalf("read %d = %v, %v; want %v", i, v.V, v.Err, want[i])
			}
		}
	}
	// orders: 6 + 0 + 5; audit: 5.
	check(16, 11, 6)

	// The consumers catch up on one partition, the producers add to another.
	commit(t, adm, workers, orders, 10, 20, 0)
	produce(t, cl, orders, 0, 8, 0)
	// orders: 0 + 8 + 5; audit: 5.
	check(18, 13, 8)

	commit(t, adm, workers, orders, 10, 28, 5)
	commit(t, adm, workers, audit, 7, 0, 0)
	check(0, 0, 0)
}

func TestUnknownGroupAndTopicHaveNoValue(t *testing.T) {
	c := testserver.Shared(t, &servers, "kafka", newCluster)
	brokers := c.ListenAddrs()
	cl, adm := admin(t, brokers)
	orders, audit, group := c.topic(t, adm, "orders"), c.topic(t, adm, "audit"), c.unique("only-orders")
	produce(t, cl, orders, 1, 1, 1)
	commit(t, adm, group, orders, 0, 0, 0)
	src := openSource(t, conn(brokers))
	vals := src.Read(context.Background(), []source.Request{
		{Group: "g", Query: &Query{Group: "nobody-here", Value: "total"}},
		{Group: "g", Query: &Query{Group: group, Topic: audit, Value: "total"}},
	})
	for i, want := range []string{"commits of consumer group nobody-here", "commits of consumer group " + group + " on topic " + audit} {
		if !errors.Is(vals[i].Err, source.ErrNoValue) || !strings.Contains(vals[i].Err.Error(), want) {
			t.Errorf("read %d: err = %v, want no value: %s", i, vals[i].Err, want)
		}
	}
}

func TestManyGroupsCostFewRequests(t *testing.T) {
	c := testserver.Shared(t, &servers, "kafka", newCluster)
	brokers := c.ListenAddrs()
	cl, adm := admin(t, brokers)
	topic, prefix := c.topic(t, adm, "many"), c.unique("many")
	produce(t, cl, topic, 300, 300, 300)
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%03d", i)
		commit(t, adm, prefix+"-"+groups[i], topic, int64(i), 0, 300)
	}
	n := &counter{}
	src := openSource(t, conn(brokers), n)
	q := &Query{Group: prefix + "-{{.Group}}", Value: "total"}
	check := func() {
		t.Helper()
		for i, v := range read(src, q, groups...) {
			// 300 − i on partition 0, 300 on partition 1, 0 on 2.
			if want := float64(600 - i); v.Err != nil || v.V != want {
				t.Fatalf("%s = %v, %v; want %v", groups[i], v.V, v.Err, want)
			}
		}
	}
	check()
	first := n.take()
	check()
	second := n.take()
	t.Logf("requests by key, first tick: %v, second: %v", first, second)

	// Per tick, whatever the number of groups: describe and fetch the
	// groups' commits per coordinator, list start and end offsets per
	// leader. Two brokers: at most two of each.
	bounds := map[int16]int{
		int16(kmsg.DescribeGroups): 2,
		int16(kmsg.OffsetFetch):    2,
		int16(kmsg.ListOffsets):    4,
	}
	for key, most := range bounds {
		if got := second[key]; got < 1 || got > most {
			t.Errorf("%s requests in a tick of 200 groups = %d, want 1 to %d", kmsg.NameForKey(key), got, most)
		}
	}
	if h := src.Health(); h.Calls != 2 {
		t.Errorf("source calls = %d, want 2 (one per tick)", h.Calls)
	}
}

func TestClusterGone(t *testing.T) {
	c, err := newCluster()
	if err != nil {
		t.Fatal(err)
	}
	brokers := c.ListenAddrs()
	cl, adm := admin(t, brokers)
	orders := c.topic(t, adm, "orders")
	produce(t, cl, orders, 3, 0, 0)
	commit(t, adm, "gone", orders, 1, 0, 0)
	cn := conn(brokers)
	cn.Timeout, cn.Tries = config.Duration(300*time.Millisecond), 2
	src := openSource(t, cn)
	q := &Query{Group: "gone", Value: "total"}
	if v := read(src, q, "g")[0]; v.Err != nil || v.V != 2 {
		t.Fatalf("before: %v, %v", v.V, v.Err)
	}
	c.Close()

	start := time.Now()
	v := read(src, q, "g")[0]
	if v.Err == nil {
		t.Fatalf("no error reading a closed cluster")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %v for 2 tries of 300ms", took)
	}
	h := src.Health()
	if !h.Failing || h.Calls != 3 || h.Failures != 2 || h.LastError == "" {
		t.Fatalf("health = %+v; want failing after 1 good call and 2 tries", h)
	}
	t.Logf("error: %v", v.Err)
}

func TestValidate(t *testing.T) {
	good := conn([]string{"127.0.0.1:9092"})
	tests := []struct {
		name string
		v    interface{ Validate() error }
		want []string
	}{
		{name: "good conn", v: good},
		{name: "good sasl", v: &Conn{Calls: good.Calls, Brokers: good.Brokers,
			SASL: &SASL{Mechanism: "scram-sha-512", Username: "u", Password: &config.Secret{Env: "P"}}}},
		{name: "no brokers", v: &Conn{Calls: good.Calls}, want: []string{"brokers: required"}},
		{name: "bad broker and sasl", v: &Conn{Calls: good.Calls, Brokers: []string{"kafka"},
			TLS:  &config.TLS{CertFile: "c.pem"},
			SASL: &SASL{Mechanism: "gssapi"}},
			want: []string{`brokers[0]: "kafka" is not host:port`, "tls.cert_file: cert_file and key_file go together",
				`sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512, not "gssapi"`, "sasl.username: required", "sasl.password: required"}},
		{name: "limits", v: &Conn{Brokers: good.Brokers}, want: []string{"timeout: must be > 0", "tries: must be 1 to 10"}},
		{name: "good query", v: &Query{Group: "{{.Group}}", Value: "max_partition"}},
		{name: "bad query", v: &Query{Group: "{{.Topic}}", Value: "avg"},
			want: []string{"group: invalid template", `value: must be total or max_partition, not "avg"`}},
		{name: "no group", v: &Query{Value: "total"}, want: []string{"group: required"}},
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

func TestHangingBrokerTimesOut(t *testing.T) {
	addr, accepted := testserver.Blackhole(t)
	c := conn([]string{addr})
	c.Timeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c)
	start := time.Now()
	v := read(src, &Query{Group: "g", Value: "total"}, "g")[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "lag of consumer groups (1)") {
		t.Fatalf("err = %v, want the lag call's", v.Err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v for 2 tries of 200ms", took)
	}
	if h := src.Health(); !h.Failing || h.Calls != 2 || h.Failures != 2 {
		t.Fatalf("health = %+v, want 2 failed tries", h)
	}
	if accepted() < 1 {
		t.Fatal("the client never reached the broker")
	}
	t.Logf("error: %v", v.Err)
}

// What only a config change mends is not retried: refused logins and
// authorisations; everything else (a broker down, a leader moving) is.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err   error
		retry bool
	}{
		{err: fmt.Errorf("describe groups: %w", kerr.SaslAuthenticationFailed), retry: false},
		{err: fmt.Errorf("list offsets: %w", kerr.TopicAuthorizationFailed), retry: false},
		{err: fmt.Errorf("fetch offsets: %w", kerr.GroupAuthorizationFailed), retry: false},
		{err: kerr.ClusterAuthorizationFailed, retry: false},
		{err: context.Canceled, retry: false},
		{err: fmt.Errorf("list offsets: %w", kerr.NotLeaderForPartition), retry: true},
		{err: errors.New("dial tcp 127.0.0.1:9092: connect: connection refused"), retry: true},
	} {
		if got := source.Transient(classify(tt.err)); got != tt.retry {
			t.Errorf("%v: retried %v, want %v", tt.err, got, tt.retry)
		}
	}
}
