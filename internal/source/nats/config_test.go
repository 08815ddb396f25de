package nats

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestConnValidate(t *testing.T) {
	good := func(edit func(c *Conn)) *Conn {
		c := conn("nats://127.0.0.1:4222")
		edit(c)
		return c
	}
	tests := []struct {
		name string
		conn *Conn
		want []string
	}{
		{name: "good", conn: good(func(*Conn) {})},
		{name: "cluster", conn: good(func(c *Conn) { c.URL = "nats://a:4222, tls://b:4222" })},
		{name: "user", conn: good(func(c *Conn) { c.User, c.Password = "ebb", &config.Secret{File: "p"} })},
		{name: "token", conn: good(func(c *Conn) { c.Token = &config.Secret{Env: "T"} })},
		{name: "creds", conn: good(func(c *Conn) { c.CredsFile = "ebb.creds"; c.TLS = &config.TLS{CAFile: "ca.pem"} })},
		{name: "no url", conn: good(func(c *Conn) { c.URL = "" }), want: []string{"url: required"}},
		{name: "no host", conn: good(func(c *Conn) { c.URL = "127.0.0.1:4222" }), want: []string{`url: must be nats://host:port, not "127.0.0.1:4222"`}},
		{name: "http", conn: good(func(c *Conn) { c.URL = "http://127.0.0.1:8222" }), want: []string{`url: scheme must be nats, tls, ws or wss, not "http"`}},
		{name: "user alone", conn: good(func(c *Conn) { c.User = "ebb" }), want: []string{"user: user and password go together"}},
		{name: "password alone", conn: good(func(c *Conn) { c.Password = &config.Secret{Env: "P"} }), want: []string{"user: user and password go together"}},
		{name: "inline token", conn: good(func(c *Conn) { c.Token = &config.Secret{Value: "abc"} }),
			want: []string{"token.value: a token comes from env or file, not inline"}},
		{name: "two origins", conn: good(func(c *Conn) { c.User, c.Password = "u", &config.Secret{Env: "P", File: "f"} }),
			want: []string{"password: exactly one of value, env and file, not 2"}},
		{name: "token and user", conn: good(func(c *Conn) { c.User, c.Password, c.Token = "u", &config.Secret{Env: "P"}, &config.Secret{Env: "T"} }),
			want: []string{"token: a token is instead of user and password"}},
		{name: "creds and token", conn: good(func(c *Conn) { c.CredsFile, c.Token = "f", &config.Secret{Env: "T"} }),
			want: []string{"creds_file: a credentials file is instead of user and token"}},
		{name: "tls half a pair", conn: good(func(c *Conn) { c.TLS = &config.TLS{KeyFile: "k.pem"} }),
			want: []string{"tls.cert_file: cert_file and key_file go together"}},
		{name: "every problem at once", conn: good(func(c *Conn) { c.URL, c.User, c.Concurrency = "", "u", 0 }),
			want: []string{"concurrency: must be 1 to 256, not 0", "url: required", "user: user and password go together"}},
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
		{name: "good", query: Query{Stream: "ORDERS", Consumer: "workers", Value: Pending}},
		{name: "templates", query: Query{Stream: "orders-{{.Group}}", Consumer: "{{.Group}}", Value: Backlog}},
		{name: "nothing", want: []string{"consumer: required", "stream: required", `value: must be pending, ack_pending, waiting or backlog, not ""`}},
		{name: "bad value", query: Query{Stream: "S", Consumer: "c", Value: "lag"}, want: []string{`value: must be pending, ack_pending, waiting or backlog, not "lag"`}},
		{name: "subject as stream", query: Query{Stream: "orders.*", Consumer: "c", Value: Waiting},
			want: []string{`stream: a stream or consumer name has no '.', '*', '>', whitespace, '/' or '\'`}},
		{name: "instance field", query: Query{Stream: "{{.Zone}}", Consumer: "c", Value: Pending},
			want: []string{"stream: may use only {{.Group}}: a stream is the group's, not an instance's"}},
		{name: "bad template", query: Query{Stream: "S", Consumer: "{{.Nope}}", Value: AckPending},
			want: []string{`consumer: invalid template (fields: .ID .Group .Zone .Port .Addr): template: consumer:1:2: executing "consumer" at <.Nope>: can't evaluate field Nope in type config.TemplateData`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.query.Validate())); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
