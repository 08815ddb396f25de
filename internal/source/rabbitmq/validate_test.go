package rabbitmq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestConnValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Conn)
		want []string
	}{
		{name: "good", edit: func(*Conn) {}},
		{name: "https with auth and tls", edit: func(c *Conn) {
			c.URL = "https://rabbit:15671/"
			c.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "RABBITMQ_PASSWORD"}}
			c.TLS = &config.TLS{CAFile: "ca.pem"}
		}},
		{name: "no url", edit: func(c *Conn) { c.URL = "" }, want: []string{"url: required"}},
		{name: "not http", edit: func(c *Conn) { c.URL = "amqp://rabbit:5672" }, want: []string{`url: must be http://host:port or https://host:port, not "amqp://rabbit:5672"`}},
		{name: "no host", edit: func(c *Conn) { c.URL = "rabbit:15672" }, want: []string{`url: must be http://host:port or https://host:port, not "rabbit:15672"`}},
		{name: "does not parse", edit: func(c *Conn) { c.URL = "http://[::1" }, want: []string{`url: does not parse: parse "http://[::1": missing ']' in host`}},
		{
			name: "credentials in the url",
			edit: func(c *Conn) { c.URL = "http://guest:guest@127.0.0.1:15672" },
			want: []string{"url: holds a user: put it under basic_auth, with the password from env or a file"},
		},
		{name: "query", edit: func(c *Conn) { c.URL = "http://127.0.0.1:15672/?x=1" }, want: []string{"url: must be the API's base URL, without a query"}},
		{name: "no vhost", edit: func(c *Conn) { c.VHost = "" }, want: []string{"vhost: required (the default one is /)"}},
		{
			name: "auth and tls parts",
			edit: func(c *Conn) {
				c.BasicAuth = &config.BasicAuth{}
				c.TLS = &config.TLS{CertFile: "c.pem"}
				c.Concurrency = 0
			},
			want: []string{
				"concurrency: must be 1 to 256, not 0",
				"basic_auth.username: required",
				"basic_auth.password: exactly one of value, env and file, not 0",
				"tls.cert_file: cert_file and key_file go together",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn("http://127.0.0.1:15672")
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
		{name: "good", q: Query{Queue: "{{.Group}}.jobs", Value: "ready"}},
		{name: "each value", q: Query{Queue: "q", Value: "messages"}},
		{name: "no queue", q: Query{Value: "ready"}, want: []string{"queue: required"}},
		{name: "bad template", q: Query{Queue: "{{.Group", Value: "ready"}, want: []string{"queue: invalid template: template: queue:1: unclosed action"}},
		{name: "instance template", q: Query{Queue: "{{.ID}}", Value: "ready"}, want: []string{"queue: may use only {{.Group}}: a queue is the group's, not an instance's"}},
		{name: "unknown value", q: Query{Queue: "q", Value: "depth"}, want: []string{`value: must be ready, unacked, messages or consumers, not "depth"`}},
		{name: "both", q: Query{Value: ""}, want: []string{"queue: required", `value: must be ready, unacked, messages or consumers, not ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.q.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
