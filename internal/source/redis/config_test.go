package redis

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestConnValidate(t *testing.T) {
	good := func(edit func(c *Conn)) *Conn {
		c := &Conn{Addr: "127.0.0.1:6379", Calls: config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}}
		edit(c)
		return c
	}
	tests := []struct {
		name string
		conn *Conn
		want []string
	}{
		{name: "good", conn: good(func(*Conn) {})},
		{name: "good with auth and tls", conn: good(func(c *Conn) {
			c.Username, c.Password, c.DB, c.TLS = "ebb", &config.Secret{Env: "P"}, 2, &config.TLS{CAFile: "ca.pem"}
		})},
		{name: "no addr", conn: good(func(c *Conn) { c.Addr = "" }), want: []string{"addr: required"}},
		{name: "no port", conn: good(func(c *Conn) { c.Addr = "redis" }), want: []string{`addr: must be host:port, not "redis"`}},
		{name: "bad port", conn: good(func(c *Conn) { c.Addr = "redis:99999" }), want: []string{`addr: port must be 1 to 65535, not "99999"`}},
		{name: "no host", conn: good(func(c *Conn) { c.Addr = ":6379" }), want: []string{`addr: must name a host: ":6379"`}},
		{name: "user without password", conn: good(func(c *Conn) { c.Username = "ebb" }), want: []string{"username: a user needs a password"}},
		{name: "inline password", conn: good(func(c *Conn) { c.Password = &config.Secret{Value: "hunter2"} }),
			want: []string{"password.value: a password comes from env or file, not inline"}},
		{name: "two origins", conn: good(func(c *Conn) { c.Password = &config.Secret{Env: "P", File: "f"} }),
			want: []string{"password: exactly one of value, env and file, not 2"}},
		{name: "negative db", conn: good(func(c *Conn) { c.DB = -1 }), want: []string{"db: must be >= 0, not -1"}},
		{name: "tls half a pair", conn: good(func(c *Conn) { c.TLS = &config.TLS{CertFile: "c.pem"} }),
			want: []string{"tls.cert_file: cert_file and key_file go together"}},
		{name: "every problem at once", conn: good(func(c *Conn) { c.Addr, c.DB, c.Tries, c.Timeout = "", -2, 0, 0 }),
			want: []string{"addr: required", "db: must be >= 0, not -2", "timeout: must be > 0, not 0s", "tries: must be 1 to 10, not 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.conn.Validate())); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryValidate(t *testing.T) {
	tests := []struct {
		name  string
		query Query
		want  []string
	}{
		{name: "list", query: Query{List: "jobs:{{.Group}}"}},
		{name: "stream", query: Query{Stream: "events"}},
		{name: "sorted set", query: Query{SortedSet: "delayed"}},
		{name: "pending", query: Query{Pending: &ConsumerGroup{Stream: "s:{{.Group}}", Group: "workers"}}},
		{name: "lag", query: Query{Lag: &ConsumerGroup{Stream: "s", Group: "{{.Group}}"}}},
		{name: "none", want: []string{"exactly one of list, stream, sorted_set, pending and lag, not 0"}},
		{name: "two", query: Query{List: "a", Stream: "b"}, want: []string{"exactly one of list, stream, sorted_set, pending and lag, not 2"}},
		{name: "unknown field", query: Query{List: "jobs:{{.Queue}}"},
			want: []string{`list: invalid template (fields: .ID .Group .Zone .Port .Addr): template: list:1:7: executing "list" at <.Queue>: can't evaluate field Queue in type config.TemplateData`}},
		{name: "instance field", query: Query{List: "jobs:{{.Addr}}"},
			want: []string{"list: may use only {{.Group}}: a list is the group's, not an instance's"}},
		{name: "unparsable", query: Query{SortedSet: "jobs:{{.Group"},
			want: []string{`sorted_set: invalid template: template: sorted set:1: unclosed action`}},
		{name: "group without names", query: Query{Pending: &ConsumerGroup{}}, want: []string{"pending.group: required", "pending.stream: required"}},
		{name: "group bad template", query: Query{Lag: &ConsumerGroup{Stream: "s", Group: "{{.Nope}}"}},
			want: []string{`lag.group: invalid template (fields: .ID .Group .Zone .Port .Addr): template: consumer group:1:2: executing "consumer group" at <.Nope>: can't evaluate field Nope in type config.TemplateData`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.query.Validate())); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
