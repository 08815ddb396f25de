package prometheus

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestConnValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Conn)
		want []string
	}{
		{name: "minimal", edit: func(c *Conn) {}},
		{name: "everything", edit: func(c *Conn) {
			c.URL = "https://prom.example:9090/prometheus"
			c.BearerToken = &config.Secret{Env: "TOKEN"}
			c.TLS = &config.TLS{CAFile: "ca.pem"}
			c.Headers = map[string]config.Secret{"X-Scope-OrgID": {Value: "t1"}}
		}},
		{name: "no url", edit: func(c *Conn) { c.URL = "" }, want: []string{"url: required"}},
		{name: "no scheme", edit: func(c *Conn) { c.URL = "prometheus:9090" }, want: []string{"url: must start with http:// or https://"}},
		{name: "no host", edit: func(c *Conn) { c.URL = "http:///api" }, want: []string{"url: names no host"}},
		{name: "not a URL", edit: func(c *Conn) { c.URL = "http://a b" }, want: []string{`url: not a URL: invalid character " " in host name`}},
		{name: "credentials in url", edit: func(c *Conn) { c.URL = "http://ebb:pw@prom:9090" }, want: []string{"url: may not hold credentials: use basic_auth, whose password comes from env or a file"}},
		{name: "query in url", edit: func(c *Conn) { c.URL = "http://prom:9090/?x=1" }, want: []string{"url: must be the server's base URL, without ?query or #fragment"}},
		{name: "tls without https", edit: func(c *Conn) { c.TLS = &config.TLS{} }, want: []string{"tls: applies to https URLs only; url is http"}},
		{name: "tls problem", edit: func(c *Conn) {
			c.URL = "https://prom"
			c.TLS = &config.TLS{CertFile: "c.pem"}
		}, want: []string{"tls.cert_file: cert_file and key_file go together"}},
		{name: "basic auth incomplete", edit: func(c *Conn) { c.BasicAuth = &config.BasicAuth{} }, want: []string{
			"basic_auth.username: required",
			"basic_auth.password: exactly one of value, env and file, not 0",
		}},
		{name: "bearer and basic", edit: func(c *Conn) {
			c.BasicAuth = &config.BasicAuth{Username: "u", Password: config.Secret{Env: "PW"}}
			c.BearerToken = &config.Secret{Env: "T", File: "t"}
		}, want: []string{
			"bearer_token: exactly one of value, env and file, not 2",
			"bearer_token: set basic_auth or bearer_token, not both",
		}},
		{name: "headers", edit: func(c *Conn) {
			c.BearerToken = &config.Secret{Env: "T"}
			c.Headers = map[string]config.Secret{"Bad Header": {Value: "x"}, "authorization": {Value: "x"}, "X-Empty": {}}
		}, want: []string{
			`headers: "Bad Header" is not a valid header name`,
			"headers.X-Empty: exactly one of value, env and file, not 0",
			"headers.authorization: set Authorization here or basic_auth/bearer_token, not both",
		}},
		{name: "limits", edit: func(c *Conn) { c.Tries, c.Concurrency, c.Timeout = 0, 0, 0 }, want: []string{
			"timeout: must be > 0, not 0s",
			"tries: must be 1 to 10, not 0",
			"concurrency: must be 1 to 256, not 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConn("http://prometheus:9090")
			tt.edit(c)
			if diff := cmp.Diff(tt.want, config.Problems(c.Validate()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryValidate(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want []string // a problem each, its start
		also string   // what the first problem says besides
	}{
		{name: "by label", q: Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: defaultValue}},
		{name: "value template", q: Query{Query: "sum by (queue) (depth)", Label: "queue", Value: "{{.Group}}-in"}},
		{name: "per group", q: Query{Query: `sum(rate(x{job="{{.Group}}"}[5m]))`, Value: defaultValue}},
		{name: "experimental function", q: Query{Query: `sort_by_label(x, "job")`, Value: defaultValue}},
		{name: "no query", q: Query{Query: "  ", Value: defaultValue}, want: []string{"query: required"}},
		{name: "template with label", q: Query{Query: `sum by (job) (x{job="{{.Group}}"})`, Label: "job", Value: defaultValue},
			want: []string{"query: may not use templates with label: one query, as written, answers every group (its series tell groups apart by job)"}},
		{name: "bad PromQL", q: Query{Query: "sum by (job (x", Label: "job", Value: defaultValue},
			want: []string{`query: 1:13: parse error: unexpected "(" in grouping opts`}},
		{name: "bad PromQL in a template", q: Query{Query: `sum(x{job="{{.Group}}"}`, Value: defaultValue},
			want: []string{"query: 1:"}, also: "parse error"},
		{name: "bad template", q: Query{Query: `x{job="{{.Group}"}`, Value: defaultValue},
			want: []string{"query: invalid template: template: query:1: bad character U+007D '}'"}},
		{name: "unknown field", q: Query{Query: `x{job="{{.Grp}}"}`, Value: defaultValue},
			want: []string{"query: invalid template (fields: .ID .Group .Zone .Port .Addr): template: query:1:9: executing"}, also: "can't evaluate field Grp"},
		{name: "bad label", q: Query{Query: "sum by (job) (x)", Label: "job-name", Value: defaultValue},
			want: []string{`label: "job-name" is not a Prometheus label name`}},
		{name: "empty value", q: Query{Query: "sum by (job) (x)", Label: "job"},
			want: []string{"value: may not be empty"}},
		{name: "value without label", q: Query{Query: "sum(x)", Value: "{{.Group}}-x"},
			want: []string{"value: applies only with label"}},
		{name: "bad value", q: Query{Query: "sum by (job) (x)", Label: "job", Value: "{{.Group"},
			want: []string{"value: invalid template: template: value:1: unclosed action"}},
		{name: "all at once", q: Query{Query: "", Label: "1job", Value: ""},
			want: []string{`label: "1job"`, "query: required", "value: may not be empty"}}, // sorted
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := config.Problems(tt.q.Validate())
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d: %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, got[i], tt.want[i])
				}
			}
			if tt.also != "" && !strings.Contains(got[0], tt.also) {
				t.Errorf("problem %q does not say %q", got[0], tt.also)
			}
		})
	}
}

// TestDefaults: each default tag is one YAML value that decodes to what
// the code assumes ({{.Group}} must be quoted: unquoted, YAML reads a
// flow mapping).
func TestDefaults(t *testing.T) {
	f, _ := reflect.TypeFor[Query]().FieldByName("Value")
	var got string
	if err := yaml.Unmarshal([]byte(f.Tag.Get("default")), &got); err != nil || got != defaultValue {
		t.Errorf("value's default decodes to %q, %v; want %q", got, err, defaultValue)
	}
}
