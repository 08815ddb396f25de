package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// conn is a connection config as the decoder leaves it: defaults applied.
func conn(addr string) *Conn {
	return &Conn{Addr: addr, Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
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

// openCounted opens a source whose connections go through d.
func openCounted(t *testing.T, c *Conn, d *countingDialer) *source.Source {
	t.Helper()
	k := source.NewKind[Conn, Query]("redis", "", source.Named, func(c *Conn, _ source.Deps) (source.Backend[Query], error) {
		return openWith(c, d.dial)
	})
	src, err := k.Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// countingDialer counts the connections the client opens and the writes it
// makes on them: a pipeline is one write.
type countingDialer struct{ dials, writes atomic.Int64 }

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	return &countingConn{Conn: c, d: d}, nil
}

type countingConn struct {
	net.Conn
	d *countingDialer
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.d.writes.Add(1)
	return c.Conn.Write(p)
}

// admin is a plain client the tests change the server with.
func admin(t *testing.T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func shared(t *testing.T) (*testserver.RedisServer, *goredis.Client) {
	t.Helper()
	srv := testserver.Shared(t, &servers, "redis", testserver.Redis)
	rdb := admin(t, srv.Addr)
	must(t, rdb.FlushAll(t.Context()).Err()) // tests run one at a time
	return srv, rdb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// values reads reqs and returns each value, or its error's text.
func values(t *testing.T, src *source.Source, reqs []source.Request) []any {
	t.Helper()
	vals := src.Read(t.Context(), reqs)
	out := make([]any, len(vals))
	for i, v := range vals {
		if v.Err != nil {
			out[i] = v.Err.Error()
		} else {
			out[i] = v.V
		}
	}
	return out
}

func TestLengthsFollowTheServer(t *testing.T) {
	srv, rdb := shared(t)
	ctx := t.Context()
	src := openSource(t, conn(srv.Addr))
	reqs := []source.Request{
		{Group: "a", Query: &Query{List: "len:{{.Group}}:jobs"}},
		{Group: "b", Query: &Query{List: "len:{{.Group}}:jobs"}},
		{Group: "a", Query: &Query{Stream: "len:events"}},
		{Group: "a", Query: &Query{SortedSet: "len:delayed"}},
	}
	if diff := cmp.Diff([]any{0.0, 0.0, 0.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("missing keys are empty (-want +got):\n%s", diff)
	}
	must(t, rdb.LPush(ctx, "len:a:jobs", 1, 2, 3).Err())
	must(t, rdb.LPush(ctx, "len:b:jobs", 1).Err())
	must(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "len:events", Values: []any{"k", "v"}}).Err())
	must(t, rdb.ZAdd(ctx, "len:delayed", goredis.Z{Score: 1, Member: "x"}, goredis.Z{Score: 2, Member: "y"}).Err())
	if diff := cmp.Diff([]any{3.0, 1.0, 1.0, 2.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("after pushes (-want +got):\n%s", diff)
	}
	must(t, rdb.RPop(ctx, "len:a:jobs").Err())
	must(t, rdb.Del(ctx, "len:b:jobs").Err())
	must(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "len:events", Values: []any{"k", "v"}}).Err())
	must(t, rdb.ZRem(ctx, "len:delayed", "x").Err())
	if diff := cmp.Diff([]any{2.0, 0.0, 2.0, 1.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("after pops (-want +got):\n%s", diff)
	}
}

// cmdCalls is the calls of one command INFO commandstats reports.
func cmdCalls(t *testing.T, rdb *goredis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(t.Context(), "commandstats").Result()
	must(t, err)
	for line := range strings.SplitSeq(info, "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		must(t, err)
		return n
	}
	return 0
}

func TestThousandGroupsOnePipeline(t *testing.T) {
	srv, rdb := shared(t)
	ctx := t.Context()
	var d countingDialer
	src := openCounted(t, conn(srv.Addr), &d)
	q := &Query{List: "many:{{.Group}}"}
	shared := &Query{List: "many:shared"}
	reqs := make([]source.Request, 0, 2000)
	for i := range 1000 {
		g := fmt.Sprintf("g%04d", i)
		reqs = append(reqs, source.Request{Group: g, Query: q}, source.Request{Group: g, Query: shared})
		must(t, rdb.RPush(ctx, "many:"+g, items(i%7+1)...).Err())
	}
	must(t, rdb.RPush(ctx, "many:shared", 1, 2).Err())
	src.Read(ctx, reqs) // warm up: the connection is dialled and kept
	dials, writes, llens := d.dials.Load(), d.writes.Load(), cmdCalls(t, rdb, "llen")

	vals := src.Read(ctx, reqs)
	for i, v := range vals {
		want := 2.0
		if i%2 == 0 {
			want = float64(i/2%7 + 1)
		}
		if v.Err != nil || v.V != want {
			t.Fatalf("read %d (%s) = %v, %v; want %v", i, reqs[i].Group, v.V, v.Err, want)
		}
	}
	if n := d.writes.Load() - writes; n != 1 {
		t.Errorf("the read wrote to redis %d times, want 1 (one pipeline)", n)
	}
	if n := d.dials.Load() - dials; n != 0 {
		t.Errorf("the read dialled %d connections, want 0", n)
	}
	// 1,000 keys asked once each, and the key all groups share once.
	if n := cmdCalls(t, rdb, "llen") - llens; n != 1001 {
		t.Errorf("redis ran LLEN %d times, want 1001", n)
	}
	if h := src.Health(); h.Calls != 2 || h.Failing {
		t.Errorf("health = %+v, want 2 calls, not failing", h)
	}
}

func TestConsumerGroupPendingAndLag(t *testing.T) {
	srv, rdb := shared(t)
	ctx := t.Context()
	src := openSource(t, conn(srv.Addr))
	must(t, rdb.XGroupCreateMkStream(ctx, "cg:orders", "workers", "$").Err())
	group := &ConsumerGroup{Stream: "cg:{{.Group}}", Group: "workers"}
	reqs := []source.Request{
		{Group: "orders", Query: &Query{Pending: group}},
		{Group: "orders", Query: &Query{Lag: group}},
		{Group: "orders", Query: &Query{Stream: "cg:orders"}},
	}
	if diff := cmp.Diff([]any{0.0, 0.0, 0.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("empty stream (-want +got):\n%s", diff)
	}
	for i := range 5 {
		must(t, rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "cg:orders", Values: []any{"n", i}}).Err())
	}
	if diff := cmp.Diff([]any{0.0, 5.0, 5.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("5 added, none read (-want +got):\n%s", diff)
	}
	got, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w1", Streams: []string{"cg:orders", ">"}, Count: 3}).Result()
	must(t, err)
	if diff := cmp.Diff([]any{3.0, 2.0, 5.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("3 read, none acked (-want +got):\n%s", diff)
	}
	must(t, rdb.XAck(ctx, "cg:orders", "workers", got[0].Messages[0].ID, got[0].Messages[1].ID).Err())
	if diff := cmp.Diff([]any{1.0, 2.0, 5.0}, values(t, src, reqs)); diff != "" {
		t.Fatalf("2 acked (-want +got):\n%s", diff)
	}
}

func TestLagRedisCannotTell(t *testing.T) {
	srv, rdb := shared(t)
	ctx := t.Context()
	src := openSource(t, conn(srv.Addr))
	var ids []string
	for i := range 3 {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "unk:s", Values: []any{"n", i}}).Result()
		must(t, err)
		ids = append(ids, id)
	}
	// Group "mid" begins at an arbitrary ID: Redis knows neither its reads
	// nor its lag.
	must(t, rdb.XGroupCreate(ctx, "unk:s", "mid", ids[1]).Err())
	// Group "del" has read one entry; deleting the last entry leaves a
	// hole ahead of it, so Redis reports no lag, but entries-read stays.
	must(t, rdb.XGroupCreate(ctx, "unk:s", "del", "0").Err())
	must(t, rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "del", Consumer: "c", Streams: []string{"unk:s", ">"}, Count: 1}).Err())
	must(t, rdb.XDel(ctx, "unk:s", ids[2]).Err())
	infos, err := rdb.Do(ctx, "xinfo", "groups", "unk:s").Result()
	must(t, err)
	for _, g := range []string{"mid", "del"} {
		if gi := mustGroups(t, infos)[g]; gi.lag != nil {
			t.Fatalf("redis reports lag %d for group %s; the test needs a group whose lag it cannot tell", *gi.lag, g)
		}
	}
	vals := src.Read(ctx, []source.Request{
		{Group: "x", Query: &Query{Lag: &ConsumerGroup{Stream: "unk:s", Group: "mid"}}},
		{Group: "x", Query: &Query{Lag: &ConsumerGroup{Stream: "unk:s", Group: "del"}}},
	})
	if !errors.Is(vals[0].Err, source.ErrNoValue) || !strings.Contains(vals[0].Err.Error(), "does not know the lag of consumer group mid") {
		t.Errorf("mid: err = %v, want no value saying redis does not know the lag", vals[0].Err)
	}
	// XLEN 2 less 1 read: the one entry left after the group's.
	if vals[1].Err != nil || vals[1].V != 1 {
		t.Errorf("del: %v, %v; want 1", vals[1].V, vals[1].Err)
	}
}

func mustGroups(t *testing.T, reply any) map[string]groupInfo {
	t.Helper()
	g, err := parseGroups(reply)
	must(t, err)
	return g
}

func TestMissingAndWrongType(t *testing.T) {
	srv, rdb := shared(t)
	ctx := t.Context()
	src := openSource(t, conn(srv.Addr))
	must(t, rdb.Set(ctx, "wt:string", "x", 0).Err())
	must(t, rdb.XGroupCreateMkStream(ctx, "wt:stream", "real", "$").Err())
	must(t, rdb.LPush(ctx, "wt:list", 1).Err())
	got := values(t, src, []source.Request{
		{Group: "g", Query: &Query{List: "wt:string"}},
		{Group: "g", Query: &Query{Pending: &ConsumerGroup{Stream: "wt:nostream", Group: "real"}}},
		{Group: "g", Query: &Query{Pending: &ConsumerGroup{Stream: "wt:stream", Group: "nogroup"}}},
		{Group: "g", Query: &Query{Lag: &ConsumerGroup{Stream: "wt:nostream", Group: "real"}}},
		{Group: "g", Query: &Query{Lag: &ConsumerGroup{Stream: "wt:stream", Group: "nogroup"}}},
		{Group: "g", Query: &Query{Pending: &ConsumerGroup{Stream: "wt:list", Group: "real"}}},
		{Group: "g", Query: &Query{List: "wt:list"}},
	})
	want := []any{
		"llen wt:string: WRONGTYPE Operation against a key holding the wrong kind of value",
		"no value: no stream wt:nostream or no consumer group real on it",
		"no value: no stream wt:stream or no consumer group nogroup on it",
		"no value: no stream wt:nostream",
		"no value: no consumer group nogroup on stream wt:stream",
		"xpending wt:list real: WRONGTYPE Operation against a key holding the wrong kind of value",
		1.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if h := src.Health(); h.Failing || h.Calls != 1 {
		t.Errorf("health = %+v; a read's own failure is not the source's", h)
	}
}

// fast is a connection config with short timeouts, for fault tests.
func fast(addr string) *Conn {
	c := conn(addr)
	c.Timeout = config.Duration(200 * time.Millisecond)
	return c
}

func TestServerThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int64
	go func() {
		var held []net.Conn // keep them open, silent
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
	src := openSource(t, fast(l.Addr().String()))
	start := time.Now()
	v := src.Read(t.Context(), []source.Request{{Group: "g", Query: &Query{List: "jobs"}}})[0]
	took := time.Since(start)
	if v.Err == nil || !strings.Contains(v.Err.Error(), "redis "+l.Addr().String()+": no answer in time") {
		t.Fatalf("err = %v, want a timeout naming the server", v.Err)
	}
	if !source.Transient(v.Err) {
		t.Errorf("a timeout is transient: %v", v.Err)
	}
	h := src.Health()
	if h.Calls != 3 || h.Failures != 3 || !h.Failing || !strings.Contains(h.LastError, "no answer in time") {
		t.Errorf("health = %+v, want 3 failed attempts", h)
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (one per attempt)", n)
	}
	if took > 3*time.Second {
		t.Errorf("took %v; 3 attempts of 200ms and their backoff should not", took)
	}
}

func TestServerStopped(t *testing.T) {
	srv := testserver.Own(t, testserver.Redis)
	src := openSource(t, fast(srv.Addr))
	req := []source.Request{{Group: "g", Query: &Query{List: "jobs"}}}
	if v := src.Read(t.Context(), req)[0]; v.Err != nil || v.V != 0 {
		t.Fatalf("before the stop: %v, %v", v.V, v.Err)
	}
	srv.Stop()
	v := src.Read(t.Context(), req)[0]
	if v.Err == nil || !source.Transient(v.Err) {
		t.Fatalf("err = %v, want a transient error", v.Err)
	}
	if !strings.Contains(v.Err.Error(), "redis "+srv.Addr) {
		t.Errorf("err = %v, want it to name the server", v.Err)
	}
	h := src.Health()
	if h.Calls != 4 || h.Failures != 3 || !h.Failing || h.LastError == "" {
		t.Errorf("health = %+v, want 1 good call then 3 failed attempts", h)
	}
}

func TestPassword(t *testing.T) {
	const password = "s3cret-Pa55"
	srv := testserver.Shared(t, &servers, "redis-auth", func() (*testserver.RedisServer, error) {
		return testserver.RedisWith("--requirepass", password)
	})
	file := filepath.Join(t.TempDir(), "password")
	must(t, os.WriteFile(file, []byte(password+"\n"), 0o600))
	wrong := filepath.Join(t.TempDir(), "wrong")
	must(t, os.WriteFile(wrong, []byte("not-"+password), 0o600))
	t.Setenv("EBB_TEST_REDIS_PASSWORD", password)
	req := []source.Request{{Group: "g", Query: &Query{List: "jobs"}}}

	for name, secret := range map[string]*config.Secret{"env": {Env: "EBB_TEST_REDIS_PASSWORD"}, "file": {File: file}} {
		t.Run(name, func(t *testing.T) {
			c := conn(srv.Addr)
			c.Password = secret
			if v := openSource(t, c).Read(t.Context(), req)[0]; v.Err != nil || v.V != 0 {
				t.Fatalf("= %v, %v", v.V, v.Err)
			}
		})
	}
	tests := []struct {
		name    string
		secret  *config.Secret
		wantErr string
	}{
		{name: "none", wantErr: "authenticate: NOAUTH"},
		{name: "wrong", secret: &config.Secret{File: wrong}, wantErr: "authenticate: WRONGPASS"},
		{name: "unset env", secret: &config.Secret{Env: "EBB_TEST_REDIS_UNSET"}, wantErr: "password (env:EBB_TEST_REDIS_UNSET): environment variable EBB_TEST_REDIS_UNSET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fast(srv.Addr)
			c.Password = tt.secret
			src := openSource(t, c)
			v := src.Read(t.Context(), req)[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", v.Err, tt.wantErr)
			}
			t.Logf("err: %v", v.Err)
			if strings.Contains(v.Err.Error(), password) {
				t.Fatalf("the error shows the password: %v", v.Err)
			}
			if h := src.Health(); h.Calls != 1 || !h.Failing {
				t.Errorf("health = %+v, want one attempt: a wrong password is permanent", h)
			}
		})
	}
}

// items is n list elements.
func items(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestBusyServer(t *testing.T) {
	srv := testserver.Own(t, func() (*testserver.RedisServer, error) { return testserver.RedisWith("--busy-reply-threshold", "10") })
	src := openSource(t, fast(srv.Addr))
	req := []source.Request{{Group: "g", Query: &Query{List: "jobs"}}}
	if v := src.Read(t.Context(), req)[0]; v.Err != nil {
		t.Fatal(v.Err)
	}
	// A script that never ends: after busy-reply-threshold, Redis answers
	// every other command BUSY until the script is killed.
	looping := goredis.NewClient(&goredis.Options{Addr: srv.Addr, ReadTimeout: -1, MaxRetries: -1})
	defer looping.Close()
	go looping.Eval(context.Background(), "while true do end", nil)
	// Read until the script has run past the threshold, within 5s.
	var v source.Value
	for range 250 {
		calls := src.Health().Calls
		v = src.Read(t.Context(), req)[0]
		if v.Err != nil && strings.Contains(v.Err.Error(), "BUSY") {
			if n := src.Health().Calls - calls; n != 3 {
				t.Errorf("%d attempts while busy, want 3", n)
			}
			break
		}
		pause(t.Context(), 20*time.Millisecond)
	}
	if v.Err == nil || !strings.Contains(v.Err.Error(), "BUSY") || !source.Transient(v.Err) {
		t.Fatalf("err = %v, want a transient BUSY", v.Err)
	}
	if !src.Health().Failing {
		t.Errorf("health = %+v, want failing", src.Health())
	}
	killer := admin(t, srv.Addr)
	must(t, killer.ScriptKill(t.Context()).Err())
	if v := src.Read(t.Context(), req)[0]; v.Err != nil || v.V != 0 {
		t.Fatalf("after the script is killed: %v, %v", v.V, v.Err)
	}
}

// pause waits d, or until ctx ends: polling a real server that takes a
// moment to change.
func pause(ctx context.Context, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	<-ctx.Done()
}
