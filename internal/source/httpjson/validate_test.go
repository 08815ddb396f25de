package httpjson

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
		{name: "defaults", edit: func(c *Conn) {}},
		{name: "limits", edit: func(c *Conn) { c.Timeout, c.Tries, c.Concurrency = 0, 0, 0 }, want: []string{
			"timeout: must be > 0, not 0s", "tries: must be 1 to 10, not 0", "concurrency: must be 1 to 256, not 0"}},
		{name: "header without a value", edit: func(c *Conn) { c.Headers = map[string]config.Secret{"X-Trino-User": {}} },
			want: []string{"headers.X-Trino-User: exactly one of value, env and file, not 0"}},
		{name: "header with two origins", edit: func(c *Conn) {
			c.Headers = map[string]config.Secret{"X-Key": {Value: "a", Env: "B"}}
		}, want: []string{"headers.X-Key: exactly one of value, env and file, not 2"}},
		{name: "bad header name", edit: func(c *Conn) { c.Headers = map[string]config.Secret{"X Key": {Value: "a"}} },
			want: []string{`headers: "X Key" is not a valid header name`}},
		{name: "Authorization twice", edit: func(c *Conn) {
			c.Headers = map[string]config.Secret{"authorization": {Env: "A"}}
			c.BearerToken = &config.Secret{Env: "T"}
		}, want: []string{"headers.authorization: set Authorization here or basic_auth/bearer_token, not both"}},
		{name: "basic and bearer", edit: func(c *Conn) {
			c.BasicAuth = &config.BasicAuth{Username: "u", Password: config.Secret{Env: "P"}}
			c.BearerToken = &config.Secret{Env: "T"}
		}, want: []string{"bearer_token: set basic_auth or bearer_token, not both"}},
		{name: "basic auth incomplete", edit: func(c *Conn) { c.BasicAuth = &config.BasicAuth{} }, want: []string{
			"basic_auth.username: required", "basic_auth.password: exactly one of value, env and file, not 0"}},
		{name: "bearer unset", edit: func(c *Conn) { c.BearerToken = &config.Secret{} },
			want: []string{"bearer_token: exactly one of value, env and file, not 0"}},
		{name: "tls", edit: func(c *Conn) { c.TLS = &config.TLS{CertFile: "c.pem"} },
			want: []string{"tls.cert_file: cert_file and key_file go together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults()
			tt.edit(&c)
			if diff := cmp.Diff(tt.want, config.Problems(c.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
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
		{name: "group read", q: Query{URL: "http://c:8080/ui/api/stats", Path: "queuedQueries"}},
		{name: "per instance", q: Query{URL: "http://{{.Addr}}/v1/status", Path: "memoryInfo.pool.reservedBytes", EachInstance: true}},
		{name: "group in path", q: Query{URL: "http://q/stats", Path: "groups.{{.Group}}.backlog"}},
		{name: "selector", q: Query{URL: "http://f/m", Path: "[id=Source: kafka.pendingRecords].sum"}},
		{name: "empty", q: Query{}, want: []string{"url: required", "path: required"}},
		{name: "instance field without per_instance", q: Query{URL: "http://{{.Addr}}/v1/status", Path: "x"},
			want: []string{"url: uses an instance's fields (.Addr, .ID, .Zone, .Port), which only per_instance: true fills"}},
		{name: "instance field in a path", q: Query{URL: "http://q/s", Path: "nodes.{{.ID}}.busy"},
			want: []string{"path: uses an instance's fields (.Addr, .ID, .Zone, .Port), which only per_instance: true fills"}},
		{name: "bad template", q: Query{URL: "http://{{.Host}}/", Path: "{{.Group"}, want: []string{
			"url: invalid template (fields: .ID .Group .Zone .Port .Addr): template: url:1:9: executing \"url\" at <.Host>: can't evaluate field Host in type config.TemplateData",
			"path: invalid template: template: path:1: unclosed action"}},
		{name: "unclosed selector", q: Query{URL: "http://f/m", Path: "[id=x.sum"}, want: []string{`path: path "[id=x.sum": [ without ]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.q.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
