package scrape

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

func TestValidate(t *testing.T) {
	conns := []struct {
		name string
		edit func(c *Conn)
		want []string
	}{
		{name: "defaults", edit: func(c *Conn) {}},
		{name: "tries", edit: func(c *Conn) { c.Tries = 11 }, want: []string{"tries: must be 1 to 10, not 11"}},
		{name: "both credentials", edit: func(c *Conn) {
			c.BasicAuth = &config.BasicAuth{Username: "u", Password: config.Secret{File: "/p"}}
			c.BearerToken = &config.Secret{Env: "T"}
		}, want: []string{"bearer_token: set basic_auth or bearer_token, not both"}},
		{name: "password unset", edit: func(c *Conn) { c.BasicAuth = &config.BasicAuth{Username: "u"} },
			want: []string{"basic_auth.password: exactly one of value, env and file, not 0"}},
		{name: "tls", edit: func(c *Conn) { c.TLS = &config.TLS{KeyFile: "k"} }, want: []string{"tls.cert_file: cert_file and key_file go together"}},
	}
	for _, tt := range conns {
		t.Run("conn/"+tt.name, func(t *testing.T) {
			c := defaults()
			tt.edit(&c)
			if diff := cmp.Diff(tt.want, config.Problems(c.Validate())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	queries := []struct {
		name string
		q    Query
		want []string
	}{
		{name: "ok", q: Query{Metric: "x", URL: "http://{{.Addr}}/metrics"}},
		{name: "empty", q: Query{}, want: []string{"metric: required", "url: required"}},
		{name: "empty label", q: Query{Metric: "x", URL: "http://{{.Addr}}/m", Labels: map[string]string{"": "a"}},
			want: []string{"labels: a label name must not be empty"}},
		{name: "bad url", q: Query{Metric: "x", URL: "http://{{.Host}}/m"}, want: []string{
			`url: invalid template (fields: .ID .Group .Zone .Port .Addr): template: url:1:9: executing "url" at <.Host>: can't evaluate field Host in type config.TemplateData`}},
	}
	for _, tt := range queries {
		t.Run("query/"+tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, config.Problems(tt.q.Validate())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

const metrics = `# HELP ebb_worker_busy Whether the worker is busy.
# TYPE ebb_worker_busy gauge
ebb_worker_busy 1
# TYPE jobs_total counter
jobs_total{queue="a"} 10
jobs_total{queue="b"} 5
# TYPE latency histogram
latency_bucket{le="1"} 1
latency_bucket{le="+Inf"} 1
latency_sum 0.5
latency_count 1
`

func TestParseMetric(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		m       Metric
		want    float64
		found   bool
		wantErr string
	}{
		{name: "gauge", doc: metrics, m: Metric{Name: "ebb_worker_busy"}, want: 1, found: true},
		{name: "sum over series", doc: metrics, m: Metric{Name: "jobs_total"}, want: 15, found: true},
		{name: "label match", doc: metrics, m: Metric{Name: "jobs_total", Labels: map[string]string{"queue": "b"}}, want: 5, found: true},
		{name: "no match", doc: metrics, m: Metric{Name: "jobs_total", Labels: map[string]string{"queue": "c"}}},
		{name: "absent", doc: metrics, m: Metric{Name: "nope"}},
		{name: "histogram", doc: metrics, m: Metric{Name: "latency"}, wantErr: "not single values"},
		{name: "garbage", doc: "this is { not metrics", m: Metric{Name: "x"}, wantErr: "parse metrics"},
		{name: "NaN", doc: "x NaN\n", m: Metric{Name: "x"}, wantErr: "not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, found, err := ParseMetric([]byte(tt.doc), tt.m)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || v != tt.want || found != tt.found {
				t.Fatalf("= %v, %v, %v; want %v, %v", v, found, err, tt.want, tt.found)
			}
		})
	}
}

func FuzzParseMetric(f *testing.F) {
	f.Add(metrics)
	f.Add("x{a=\"b\"} 1 123\n")
	f.Fuzz(func(t *testing.T, doc string) {
		v, found, err := ParseMetric([]byte(doc), Metric{Name: "x"})
		if err == nil && found && v != v {
			t.Fatalf("NaN from %q", doc)
		}
	})
}
