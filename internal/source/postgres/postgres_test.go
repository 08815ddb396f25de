package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

// database makes a database of its own for t on the shared server, with a
// jobs table, and returns its DSN and a connection to it for the test's own
// statements.
func database(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	ctx := context.Background()
	dsn, err := srv.Database(dbName(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	exec(t, db, "CREATE TABLE jobs (id serial PRIMARY KEY, queue text NOT NULL, state text NOT NULL, cost numeric)")
	return dsn, db
}

// dbName is t's own database.
func dbName(t *testing.T) string {
	return strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
}

func exec(t *testing.T, db *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func conn(dsn string) *Conn {
	return &Conn{
		DSN:              config.Secret{Value: dsn},
		MaxConnections:   2,
		StatementTimeout: config.Duration(5 * time.Second),
		Calls:            config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4},
	}
}

// open opens a source through the framework; tune, when set, reaches the
// pool's config through the test constructor.
func openSource(t *testing.T, c *Conn, tune func(*pgxpool.Config)) *source.Source {
	t.Helper()
	k := Kind()
	if tune != nil {
		k = source.NewKind[Conn, Query]("postgres", "", source.Named, func(c *Conn, _ source.Deps) (source.Backend[Query], error) {
			return openWith(c, tune), nil
		})
	}
	src, err := k.Open(c, source.Deps{Name: "q", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func query(sql string) *Query { return &Query{SQL: sql, Key: "{{.Group}}"} }

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

func TestValuesFollowTheTable(t *testing.T) {
	dsn, db := database(t)
	src := openSource(t, conn(dsn), nil)
	queued := query("SELECT count(*) FROM jobs WHERE state = 'queued'")
	perQueue := query("SELECT count(*) FROM jobs WHERE queue = $1 AND state = 'queued'")
	read := func() []got {
		return values(src.Read(context.Background(), []source.Request{
			{Group: "a", Query: queued},
			{Group: "a", Query: perQueue},
			{Group: "b", Query: perQueue},
		}))
	}
	if diff := cmp.Diff([]got{{V: 0}, {V: 0}, {V: 0}}, read()); diff != "" {
		t.Fatalf("empty table (-want +got):\n%s", diff)
	}
	exec(t, db, "INSERT INTO jobs (queue, state) VALUES ('a', 'queued'), ('a', 'queued'), ('b', 'queued'), ('b', 'done')")
	if diff := cmp.Diff([]got{{V: 3}, {V: 2}, {V: 1}}, read()); diff != "" {
		t.Fatalf("after inserts (-want +got):\n%s", diff)
	}
	exec(t, db, "UPDATE jobs SET state = 'done' WHERE queue = 'a'")
	if diff := cmp.Diff([]got{{V: 1}, {V: 0}, {V: 1}}, read()); diff != "" {
		t.Fatalf("after an update (-want +got):\n%s", diff)
	}
}

func TestColumnTypes(t *testing.T) {
	dsn, _ := database(t)
	src := openSource(t, conn(dsn), nil)
	tests := []struct {
		sql  string
		want got
	}{
		{sql: "SELECT 7::smallint", want: got{V: 7}},
		{sql: "SELECT 70000::integer", want: got{V: 70000}},
		{sql: "SELECT 5000000000::bigint", want: got{V: 5e9}},
		{sql: "SELECT 1.5::real", want: got{V: 1.5}},
		{sql: "SELECT 2.25::double precision", want: got{V: 2.25}},
		{sql: "SELECT 12.125::numeric(10,3)", want: got{V: 12.125}},
		{sql: "SELECT $1::text = 'g' AND true", want: got{Err: `column "?column?" is bool, not a number`}},
		{sql: "SELECT length($1)", want: got{V: 1}},
		{sql: "SELECT NULL::int", want: got{Err: "no value: query returned NULL"}},
		{sql: "SELECT 1 WHERE false", want: got{Err: "no value: query returned no row"}},
		{sql: "SELECT 'x'::text AS name", want: got{Err: `column "name" is text, not a number`}},
		{sql: "SELECT 'NaN'::numeric", want: got{Err: "not a finite number"}},
		{sql: "SELECT 'Infinity'::float8", want: got{Err: "not a finite number"}},
		{sql: "SELECT 1, 2", want: got{Err: "query returns 2 columns, not 1"}},
		{sql: "VALUES (1), (2)", want: got{Err: "query returns 2 rows, not 1"}},
		{sql: "SELECT nope FROM jobs", want: got{Err: `column "nope" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			v := values(src.Read(context.Background(), []source.Request{{Group: "g", Query: query(tt.sql)}}))[0]
			if tt.want.Err != "" {
				if !strings.Contains(v.Err, tt.want.Err) {
					t.Fatalf("err = %q, want %q", v.Err, tt.want.Err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, v); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// tracer counts the statements a pool runs, by text.
type tracer struct {
	mu  sync.Mutex
	sql map[string]int
}

func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.sql == nil {
		tr.sql = map[string]int{}
	}
	tr.sql[d.SQL]++
	return ctx
}

func (tr *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *tracer) count(sql string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.sql[sql]
}

// serverCount reads how many transactions the server has ended in the
// database named, from a connection to another database (whose own
// statements do not count there).
type serverCount struct {
	t    *testing.T
	db   *pgx.Conn
	name string
}

func countTransactions(t *testing.T, name string) *serverCount {
	t.Helper()
	srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	db, err := pgx.Connect(context.Background(), srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &serverCount{t: t, db: db, name: name}
}

// now is the count; wait, when set, sleeps that long on the server first.
func (c *serverCount) now(wait string) int64 {
	c.t.Helper()
	var n int64
	err := c.db.QueryRow(context.Background(),
		"SELECT xact_commit + xact_rollback FROM pg_stat_database, pg_sleep($2::float8) WHERE datname = $1",
		c.name, wait).Scan(&n)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// growth waits until the count has grown by want since from, or 5s
// (another backend's counts are published within about a second of its
// transaction), and returns the growth.
func (c *serverCount) growth(from, want int64) int64 {
	d := c.now("0") - from
	for i := 0; i < 100 && d < want; i++ {
		d = c.now("0.05") - from
	}
	return d
}

func TestKeyColumnAnswersAThousandGroupsWithOneQuery(t *testing.T) {
	dsn, db := database(t)
	exec(t, db, "INSERT INTO jobs (queue, state) SELECT 'g' || (i % 10), 'queued' FROM generate_series(1, 59) AS i")
	tr := &tracer{}
	src := openSource(t, conn(dsn), func(c *pgxpool.Config) { c.ConnConfig.Tracer = tr })
	q := &Query{SQL: "SELECT queue, count(*) FROM jobs WHERE state = 'queued' GROUP BY queue", KeyColumn: "queue", Key: "{{.Group}}"}
	reqs := make([]source.Request, 1000)
	for i := range reqs {
		reqs[i] = source.Request{Group: fmt.Sprintf("g%d", i), Query: q}
	}
	server := countTransactions(t, dbName(t))
	before := server.now("0")
	vals := src.Read(context.Background(), reqs)
	for i, v := range vals {
		switch {
		case i == 0 && v.V != 5, i > 0 && i < 10 && v.V != 6:
			t.Fatalf("g%d = %v, %v", i, v.V, v.Err)
		case i >= 10 && !errors.Is(v.Err, source.ErrNoValue):
			t.Fatalf("g%d = %v, %v; want no value", i, v.V, v.Err)
		}
	}
	if n := tr.count(q.SQL); n != 1 {
		t.Fatalf("the query ran %d times for 1,000 groups, want once", n)
	}
	if d := server.growth(before, 1); d != 1 {
		t.Fatalf("the server ended %d transactions for 1,000 groups, want 1", d)
	}
	if !strings.Contains(vals[10].Err.Error(), `no row with queue = "g10"`) {
		t.Fatalf("g10: %v", vals[10].Err)
	}

	exec(t, db, "INSERT INTO jobs (queue, state) VALUES ('g0', 'queued'), ('g10', 'queued')")
	vals = src.Read(context.Background(), reqs[:11])
	if vals[0].V != 6 || vals[10].V != 1 || vals[10].Err != nil {
		t.Fatalf("after inserts: g0 = %v, g10 = %v, %v", vals[0].V, vals[10].V, vals[10].Err)
	}
	if n := tr.count(q.SQL); n != 2 {
		t.Fatalf("the query ran %d times in two reads, want 2", n)
	}
	for _, sql := range []string{"rollback", "commit"} {
		if n := tr.count(sql); sql == "rollback" && n != 2 || sql == "commit" && n != 0 {
			t.Fatalf("%s ran %d times", sql, n)
		}
	}
}

func TestReadOnly(t *testing.T) {
	dsn, db := database(t)
	exec(t, db, "INSERT INTO jobs (queue, state) VALUES ('a', 'queued')")
	tests := []struct{ name, sql string }{
		{name: "update", sql: "UPDATE jobs SET state = 'done' RETURNING 1"},
		{name: "data-modifying WITH", sql: "WITH d AS (DELETE FROM jobs RETURNING 1) SELECT count(*) FROM d"},
		{name: "function that writes", sql: "SELECT nextval('jobs_id_seq')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openSource(t, conn(dsn), nil)
			v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query(tt.sql)}})[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), "read-only transaction") {
				t.Fatalf("= %v, %v; want a read-only error", v.V, v.Err)
			}
			if h := src.Health(); h.Calls != 1 || !h.Failing || !strings.Contains(h.LastError, "read-only") {
				t.Fatalf("health = %+v; want one permanent failure", h)
			}
		})
	}
	var state string
	var n int
	if err := db.QueryRow(context.Background(), "SELECT min(state), count(*) FROM jobs").Scan(&state, &n); err != nil {
		t.Fatal(err)
	}
	if state != "queued" || n != 1 {
		t.Fatalf("the table changed: %d rows, state %q", n, state)
	}
}

func TestStatementTimeout(t *testing.T) {
	dsn, _ := database(t)
	c := conn(dsn)
	c.StatementTimeout, c.Tries = config.Duration(200*time.Millisecond), 2
	src := openSource(t, c, nil)
	start := time.Now()
	v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query("SELECT 1 FROM pg_sleep(10)")}})[0]
	took := time.Since(start)
	if v.Err == nil || !strings.Contains(v.Err.Error(), "canceling statement due to statement timeout") {
		t.Fatalf("= %v, %v; want a statement timeout", v.V, v.Err)
	}
	// Two tries of 200ms and a backoff of at most 100ms between them.
	if took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	if h := src.Health(); h.Calls != 2 || h.Failures != 2 || !h.Failing {
		t.Fatalf("health = %+v; want 2 failed tries", h)
	}
	// The pool's connections are fine afterwards.
	if v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query("SELECT 1")}})[0]; v.Err != nil || v.V != 1 {
		t.Fatalf("after the timeouts: %v, %v", v.V, v.Err)
	}
	if h := src.Health(); h.Failing || h.LastError == "" {
		t.Fatalf("health = %+v; want ok with the last error kept", h)
	}
}

func TestFaults(t *testing.T) {
	hung, accepted := testserver.Blackhole(t)
	closed, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dsn     string
		wantErr string
	}{
		{name: "hang", dsn: "postgres://ebb@" + hung + "/db?sslmode=disable", wantErr: "context deadline exceeded"},
		{name: "closed port", dsn: fmt.Sprintf("postgres://ebb@127.0.0.1:%d/db?sslmode=disable", closed), wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn(tt.dsn)
			c.Timeout = config.Duration(200 * time.Millisecond)
			src := openSource(t, c, nil)
			start := time.Now()
			before := accepted()
			v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query("SELECT 1")}})[0]
			if v.Err == nil || !strings.Contains(v.Err.Error(), tt.wantErr) {
				t.Fatalf("= %v, %v; want %q", v.V, v.Err, tt.wantErr)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("took %v for 3 tries of 200ms", took)
			}
			h := src.Health()
			if h.Calls != 3 || h.Failures != 3 || !h.Failing || !strings.Contains(h.LastError, tt.wantErr) {
				t.Fatalf("health = %+v; want 3 failed tries", h)
			}
			if n := accepted() - before; tt.name == "hang" && n != 3 {
				t.Fatalf("%d connections to the hung server, want 3", n)
			}
		})
	}
}

func TestServerGoesAway(t *testing.T) {
	srv := testserver.Own(t, testserver.Postgres)
	c := conn(srv.DSN("postgres"))
	c.Timeout = config.Duration(500 * time.Millisecond)
	src := openSource(t, c, nil)
	req := []source.Request{{Group: "a", Query: query("SELECT 42")}}
	if v := src.Read(context.Background(), req)[0]; v.Err != nil || v.V != 42 {
		t.Fatalf("= %v, %v", v.V, v.Err)
	}
	srv.Stop()
	v := src.Read(context.Background(), req)[0]
	if v.Err == nil {
		t.Fatal("no error with the server stopped")
	}
	h := src.Health()
	if h.Calls != 4 || h.Failures != 3 || !h.Failing || h.LastError == "" {
		t.Fatalf("health = %+v; want 3 failed tries after one good call", h)
	}
	t.Logf("with the server stopped: %v", v.Err)
}

func TestPassword(t *testing.T) {
	srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	_, db := database(t)
	// The cluster trusts everyone; this user must give a password.
	hba := filepath.Join(srv.Dir, "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all ebb_pw 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	exec(t, db, "DROP ROLE IF EXISTS ebb_pw")
	exec(t, db, "CREATE ROLE ebb_pw LOGIN PASSWORD 'right-horse-battery'")
	exec(t, db, "SELECT pg_reload_conf()")

	file := filepath.Join(t.TempDir(), "dsn")
	write := func(password string) {
		dsn := fmt.Sprintf("postgres://ebb_pw:%s@%s/%s?sslmode=disable", password, srv.Addr, dbName(t))
		if err := os.WriteFile(file, []byte(dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("wrong-staple")
	// Until the server has reloaded pg_hba.conf, any password will do.
	for i := 0; ; i++ {
		dsn, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgx.Connect(context.Background(), strings.TrimSpace(string(dsn)))
		if err != nil {
			break
		}
		c.Close(context.Background())
		if i == 50 {
			t.Fatal("the server never asked ebb_pw for a password")
		}
		exec(t, db, "SELECT pg_sleep(0.05)")
	}
	c := conn("")
	c.DSN = config.Secret{File: file}
	src := openSource(t, c, nil)
	req := []source.Request{{Group: "a", Query: query("SELECT 1")}}
	v := src.Read(context.Background(), req)[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "password authentication failed") {
		t.Fatalf("= %v, %v; want a password failure", v.V, v.Err)
	}
	if strings.Contains(v.Err.Error(), "wrong-staple") || strings.Contains(src.Health().LastError, "wrong-staple") {
		t.Fatalf("the error shows the password: %v", v.Err)
	}
	calls := src.Health().Calls
	v = src.Read(context.Background(), req)[0]
	if h := src.Health(); h.Calls != calls+1 {
		t.Fatalf("%d tries of a wrong password, want 1", h.Calls-calls)
	}
	// The file is read again for the next connection.
	write("right-horse-battery")
	if v = src.Read(context.Background(), req)[0]; v.Err != nil || v.V != 1 {
		t.Fatalf("with the password fixed: %v, %v", v.V, v.Err)
	}
}

func TestTooManyConnectionsIsRetried(t *testing.T) {
	srv := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	_, db := database(t)
	exec(t, db, "DROP ROLE IF EXISTS ebb_limited")
	exec(t, db, "CREATE ROLE ebb_limited LOGIN CONNECTION LIMIT 0")
	c := conn(fmt.Sprintf("postgres://ebb_limited@%s/%s?sslmode=disable", srv.Addr, dbName(t)))
	src := openSource(t, c, nil)
	v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query("SELECT 1")}})[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "too many connections for role") {
		t.Fatalf("= %v, %v; want too many connections", v.V, v.Err)
	}
	if h := src.Health(); h.Calls != 3 || h.Failures != 3 || !h.Failing {
		t.Fatalf("health = %+v; want 3 failed tries", h)
	}
	// The database lets it in again: the next read works.
	exec(t, db, "ALTER ROLE ebb_limited CONNECTION LIMIT 2")
	if v := src.Read(context.Background(), []source.Request{{Group: "a", Query: query("SELECT 1")}})[0]; v.Err != nil || v.V != 1 {
		t.Fatalf("after the limit rose: %v, %v", v.V, v.Err)
	}
}
