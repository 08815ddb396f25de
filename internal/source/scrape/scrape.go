package scrape

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/httpget"
)

// Conn is how a scrape source connects (sources.NAME.scrape): the limits,
// TLS, headers and credentials of the GETs. A signal without a named source
// uses all defaults.
type Conn struct {
	config.Calls     `yaml:",inline"`
	httpget.Settings `yaml:",inline"`
}

// Validate checks the limits, headers, TLS and credentials.
func (c *Conn) Validate() error { return errors.Join(c.Calls.Validate(), c.Settings.Validate()) }

// Query is one signal's metric (groups[].signals.NAME.scrape).
type Query struct {
	Metric string            `yaml:"metric" doc:"Metric name; matching samples are summed per instance. Required."`
	Labels map[string]string `yaml:"labels" doc:"Only samples carrying these labels."`
	URL    string            `yaml:"url" default:"http://{{.Addr}}/metrics" doc:"URL template, rendered per instance: {{.Addr}}, {{.ID}}, {{.Zone}}, {{.Port}}, {{.Group}}."`
}

// PerInstance is true: every instance is scraped, and the group's value is
// the signal's aggregate over them.
func (q *Query) PerInstance() bool { return true }

// Validate checks the metric and the URL template.
func (q *Query) Validate() error {
	var errs []error
	if q.Metric == "" {
		errs = append(errs, config.Problem("metric", "required"))
	}
	for _, k := range slices.Sorted(maps.Keys(q.Labels)) {
		if k == "" {
			errs = append(errs, config.Problem("labels", "a label name must not be empty"))
		}
	}
	if q.URL == "" {
		errs = append(errs, config.Problem("url", "required"))
	} else if _, err := config.ParseTemplate("url", q.URL); err != nil {
		errs = append(errs, config.Problem("url", "%v", err))
	}
	return errors.Join(errs...)
}

// Kind is the scrape source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("scrape",
		"Read a metric from each instance's Prometheus text endpoint: one GET per instance per tick answers every signal scraped from that URL.",
		source.Standalone, open)
}

// accept asks for the text format, which is what the parser reads.
const accept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	client, err := httpget.New(&c.Settings, accept)
	if err != nil {
		return nil, err
	}
	return &backend{client: client}, nil
}

type backend struct {
	client *httpget.Client
	urls   source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

// Plan keys the call by the rendered URL, so every signal scraped from one
// instance's endpoint shares one GET; the ask is the metric and its labels.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	if r.Instance == nil {
		return "", "", fmt.Errorf("scrape %s: reads instances, and none was given", r.Query.Metric)
	}
	url, err := b.urls.Render(r.Query.URL, r.Group, r.Instance)
	if err != nil {
		return "", "", err
	}
	return url, ask(r.Query), nil
}

func ask(q *Query) string {
	var s strings.Builder
	s.WriteString(q.Metric)
	for _, k := range slices.Sorted(maps.Keys(q.Labels)) {
		fmt.Fprintf(&s, "\x00%s=%s", k, q.Labels[k])
	}
	return s.String()
}

// Call scrapes the URL once and reads every asked metric from the document.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	url, err := b.urls.Render(reads[0].Query.URL, reads[0].Group, reads[0].Instance)
	if err != nil {
		return nil, err
	}
	doc, err := b.client.Get(ctx, url)
	if err != nil {
		return nil, err
	}
	fams, err := Families(doc)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", httpget.Redact(url), err)
	}
	out := make([]source.Value, len(reads))
	for i, r := range reads {
		m := Metric{Name: r.Query.Metric, Labels: r.Query.Labels}
		v, found, err := Sum(fams, m)
		switch {
		case err != nil:
			out[i] = source.Value{Err: fmt.Errorf("scrape %s: %w", httpget.Redact(url), err)}
		case !found:
			out[i] = source.NoValue("metric %s%s at %s", m.Name, labelString(m.Labels), httpget.Redact(url))
		default:
			out[i] = source.Value{V: v}
		}
	}
	return out, nil
}

func labelString(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Close drops idle connections.
func (b *backend) Close() error { return b.client.Close() }
