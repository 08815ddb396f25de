package postgres

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestConnValidate(t *testing.T) {
	good := func() *Conn { return conn("postgres://ebb@127.0.0.1:5432/jobs") }
	tests := []struct {
		name string
		edit func(c *Conn)
		want []string
	}{
		{name: "good", edit: func(*Conn) {}},
		{name: "dsn from env", edit: func(c *Conn) { c.DSN = config.Secret{Env: "JOBS_DSN"} }},
		{name: "no dsn", edit: func(c *Conn) { c.DSN = config.Secret{} }, want: []string{"dsn: required"}},
		{name: "two origins", edit: func(c *Conn) { c.DSN.Env = "X" }, want: []string{"dsn: exactly one of value, env and file, not 2"}},
		{
			name: "dsn does not parse, password not shown",
			edit: func(c *Conn) { c.DSN.Value = "postgres://ebb:hunter2@[::1/jobs" },
			want: []string{"dsn.value: does not parse as a PostgreSQL connection string (postgres://user@host:5432/db or host=… dbname=…)"},
		},
		{
			name: "limits",
			edit: func(c *Conn) {
				c.MaxConnections, c.StatementTimeout, c.Tries = 0, 0, 0
			},
			want: []string{"tries: must be 1 to 10, not 0", "max_connections: must be 1 to 100, not 0", "statement_timeout: must be > 0, not 0s"},
		},
		{name: "too many connections", edit: func(c *Conn) { c.MaxConnections = 500 }, want: []string{"max_connections: must be 1 to 100, not 500"}},
		{name: "timeout", edit: func(c *Conn) { c.StatementTimeout = config.Duration(-time.Second) }, want: []string{"statement_timeout: must be > 0, not -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(c)
			if diff := cmp.Diff(tt.want, config.Problems(c.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryValidate(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{name: "one value", q: Query{SQL: "SELECT count(*) FROM jobs"}},
		{name: "per group", q: Query{SQL: "SELECT count(*) FROM jobs WHERE queue = $1"}},
		{name: "keyed", q: Query{SQL: "SELECT queue, count(*) FROM jobs GROUP BY queue", KeyColumn: "queue"}},
		{name: "with", q: Query{SQL: "  -- backlog\n WITH q AS (SELECT 1) SELECT * FROM q"}},
		{name: "values", q: Query{SQL: "VALUES (1)"}},
		{name: "$1 in a string is text", q: Query{SQL: "SELECT queue, count(*) FROM jobs WHERE note <> '$1' GROUP BY 1", KeyColumn: "queue"}},
		{name: "key template", q: Query{SQL: "SELECT 1", Key: "queue-{{.Group}}"}},
		{name: "no sql", q: Query{}, want: []string{"sql: required"}},
		{
			name: "template in sql",
			q:    Query{SQL: "SELECT count(*) FROM jobs WHERE queue = '{{.Group}}'"},
			want: []string{"sql: templates are not expanded in SQL (that would let a group's name inject SQL): write $1 for the group's key"},
		},
		{name: "update", q: Query{SQL: "UPDATE jobs SET state = 'x'"}, want: []string{"sql: must be a query (SELECT, WITH, VALUES or TABLE), not UPDATE"}},
		{name: "two statements are refused by the server", q: Query{SQL: "SELECT 1; DELETE FROM jobs"}},
		{
			name: "parameter with key_column",
			q:    Query{SQL: "SELECT queue, count(*) FROM jobs WHERE queue = $1 GROUP BY 1", KeyColumn: "queue"},
			want: []string{"sql: takes no parameters with key_column: one query answers every group, so there is no group to bind $1 to"},
		},
		{name: "two parameters", q: Query{SQL: "SELECT $1::int + $2"}, want: []string{"sql: has $2: only $1 (the group's key) is given"}},
		{name: "bad key", q: Query{SQL: "SELECT 1", Key: "{{.Group"}, want: []string{`key: invalid template: template: key:1: unclosed action`}},
		{name: "instance key", q: Query{SQL: "SELECT 1", Key: "{{.Addr}}"}, want: []string{"key: may use only {{.Group}}: a key is the group's, not an instance's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.Key == "" {
				q.Key = "{{.Group}}"
			}
			if diff := cmp.Diff(tt.want, config.Problems(q.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		sql  string
		want shape
	}{
		{sql: "SELECT 1", want: shape{first: "select"}},
		{sql: "select $1", want: shape{first: "select", params: 1}},
		{sql: "SELECT '$1', \"$2\", E'\\'$3', 'it''s $4'", want: shape{first: "select"}},
		{sql: "/* $1 /* nested $2 */ $3 */ SELECT a$1 -- $4\n, $2", want: shape{first: "select", params: 2}},
		{sql: "SELECT $$ {{.Group}} $1 $$, $q$ $2 $q$, $12", want: shape{first: "select", params: 12}},
		{sql: "(SELECT 1) UNION SELECT {{.Group}}", want: shape{first: "select"}},
		{sql: "SELECT 'unterminated", want: shape{first: "select"}},
		{sql: "SELECT $tag$ never closed", want: shape{first: "select"}},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, scan(tt.sql), cmp.AllowUnexported(shape{})); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzScan(f *testing.F) {
	f.Add("SELECT '$1' /* x */ $2 $$ $3 $$ E'\\''")
	f.Fuzz(func(t *testing.T, sql string) {
		s := scan(sql)
		if s.params < 0 || s.params > 1<<16 {
			t.Fatalf("params = %d", s.params)
		}
	})
}
