package httpjson

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// problems lists the "key: message" of every problem in err.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ke *config.KeyError
		if errors.As(e, &ke) {
			out = append(out, ke.Key+": "+ke.Msg)
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	return out
}

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
			if diff := cmp.Diff(tt.want, problems(c.Validate())); diff != "" {
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
			if diff := cmp.Diff(tt.want, problems(tt.q.Validate())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPath(t *testing.T) {
	doc := map[string]any{
		"queued":  12.0,
		"busy":    true,
		"s":       "3.5",
		"workers": []any{map[string]any{"busy": false, "n": 2.0}},
		"metrics": []any{
			map[string]any{"id": "Source: kafka.pendingRecords", "sum": 40.0},
			map[string]any{"id": "numRecordsInPerSecond", "sum": 7.0, "max": 3.0},
			map[string]any{"id": 3.0, "sum": 1.0},
		},
		"nested": map[string]any{"list": []any{[]any{map[string]any{"id": "a", "v": 9.0}}}},
	}
	tests := []struct {
		path     string
		want     float64
		parseErr string
		findErr  string
	}{
		{path: "queued", want: 12},
		{path: "busy", want: 1},
		{path: "s", want: 3.5},
		{path: "workers.0.busy", want: 0},
		{path: "workers.0.n", want: 2},
		{path: "metrics[id=Source: kafka.pendingRecords].sum", want: 40},
		{path: "metrics[id=numRecordsInPerSecond].max", want: 3},
		{path: "metrics[id=3].sum", want: 1},
		{path: "metrics.1.sum", want: 7},
		{path: "nested.list.0[id=a].v", want: 9},
		{path: "workers.1.busy", findErr: `no "workers.1" in the answer`},
		{path: "metrics[id=nope].sum", findErr: `no "metrics[id=nope]" in the answer`},
		{path: "queued[id=x]", findErr: `no "queued[id=x]" in the answer`},
		{path: "missing", findErr: `no "missing" in the answer`},
		{path: "workers", findErr: "the value is a list, not a number"},
		{path: "a..b", parseErr: "empty key"},
		{path: ".a", parseErr: "begins with ."},
		{path: "a.", parseErr: "empty key"},
		{path: "a.[id=x]", parseErr: "without a . before it"},
		{path: "a[id=x", parseErr: "[ without ]"},
		{path: "a]", parseErr: "] without ["},
		{path: "a[=x]", parseErr: "a selector is [field=value], not [=x]"},
		{path: "a[idx]", parseErr: "a selector is [field=value]"},
		{path: "a[id=x]b", parseErr: "] must be followed by . or [ or end the path"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := ParsePath(tt.path)
			if tt.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.parseErr) {
					t.Fatalf("parse err = %v, want %q", err, tt.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Find(doc)
			var f float64
			if err == nil {
				f, err = Number(v)
			}
			if tt.findErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.findErr) {
					t.Fatalf("err = %v, want %q", err, tt.findErr)
				}
				return
			}
			if err != nil || f != tt.want {
				t.Fatalf("= %v, %v; want %v", f, err, tt.want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b.0", "[id=x.y].sum", "a[k=v][k2=v2].c", "]", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		_, _ = p.Find(map[string]any{"a": []any{map[string]any{"id": "x"}}})
	})
}
