package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/httpget"
)

// Conn is how an http_json source connects (sources.NAME.http_json): the
// limits, TLS, headers and credentials of its GETs. A signal without a
// named source uses all defaults.
type Conn struct {
	config.Calls     `yaml:",inline"`
	httpget.Settings `yaml:",inline"`
}

// Validate checks the limits, headers, TLS and credentials.
func (c *Conn) Validate() error { return errors.Join(c.Calls.Validate(), c.Settings.Validate()) }

// Query is one signal's number in a JSON answer
// (groups[].signals.NAME.http_json).
type Query struct {
	URL          string `yaml:"url" doc:"URL template, e.g. http://trino:8080/ui/api/stats; {{.Group}}, and with per_instance {{.Addr}}, {{.ID}}, {{.Zone}}, {{.Port}}. Required."`
	Path         string `yaml:"path" doc:"Template of the path to the number: keys joined by dots (memoryInfo.pool.reservedBytes), list indexes (workers.0.busy), and [field=value] picking a list's element by a member ([id=Source__kafka.pendingRecords].sum); true counts as 1. Required."`
	EachInstance bool   `yaml:"per_instance" default:"false" doc:"Ask every instance (the URL uses {{.Addr}}) and combine their values by the signal's aggregate, instead of one endpoint for the group."`
}

// PerInstance reports whether every instance is asked (per_instance).
func (q *Query) PerInstance() bool { return q.EachInstance }

// Validate checks the templates, and the path's syntax as rendered for a
// sample group.
func (q *Query) Validate() error {
	var errs []error
	switch {
	case q.URL == "":
		errs = append(errs, config.Problem("url", "required"))
	default:
		t, err := config.ParseTemplate("url", q.URL)
		switch {
		case err != nil:
			errs = append(errs, config.Problem("url", "%v", err))
		case !q.EachInstance && source.UsesInstance(t):
			errs = append(errs, config.Problem("url", "uses an instance's fields (.Addr, .ID, .Zone, .Port), which only per_instance: true fills"))
		}
	}
	switch {
	case q.Path == "":
		errs = append(errs, config.Problem("path", "required"))
	default:
		t, err := config.ParseTemplate("path", q.Path)
		if err != nil {
			errs = append(errs, config.Problem("path", "%v", err))
			break
		}
		if !q.EachInstance && source.UsesInstance(t) {
			errs = append(errs, config.Problem("path", "uses an instance's fields (.Addr, .ID, .Zone, .Port), which only per_instance: true fills"))
			break
		}
		sample, err := config.Execute(t, config.TemplateData{ID: "i", Group: "g", Zone: "z", Port: 1, Addr: "127.0.0.1:1"})
		if err == nil {
			_, err = source.ParsePath(sample)
		}
		if err != nil {
			errs = append(errs, config.Problem("path", "%v", err))
		}
	}
	return errors.Join(errs...)
}

// Kind is the http_json source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("http_json",
		"Read numbers from a JSON document over HTTP: one GET per URL per tick answers every group's path in it.",
		source.Standalone, open)
}

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	client, err := httpget.New(&c.Settings, "application/json")
	if err != nil {
		return nil, err
	}
	return &backend{client: client}, nil
}

type backend struct {
	client *httpget.Client
	tmpl   source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

// Plan keys the call by the rendered URL, so every group and signal reading
// one document shares one GET; the ask is the rendered path.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	url, err := b.tmpl.Render(r.Query.URL, r.Group, r.Instance)
	if err != nil {
		return "", "", err
	}
	path, err := b.tmpl.Render(r.Query.Path, r.Group, r.Instance)
	if err != nil {
		return "", "", err
	}
	if _, err := source.ParsePath(path); err != nil {
		return "", "", err
	}
	return url, path, nil
}

// Call gets the document once and reads every asked path from it.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	url, err := b.tmpl.Render(reads[0].Query.URL, reads[0].Group, reads[0].Instance)
	if err != nil {
		return nil, err
	}
	body, err := b.client.Get(ctx, url)
	if err != nil {
		return nil, err
	}
	shown := httpget.Redact(url)
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: not JSON: %w", shown, err)
	}
	out := make([]source.Value, len(reads))
	for i, r := range reads {
		out[i] = b.read(doc, r, shown)
	}
	return out, nil
}

func (b *backend) read(doc any, r source.Read[Query], shown string) source.Value {
	text, err := b.tmpl.Render(r.Query.Path, r.Group, r.Instance)
	if err != nil {
		return source.Value{Err: err}
	}
	p, err := source.ParsePath(text)
	if err != nil {
		return source.Value{Err: err}
	}
	v, err := p.Find(doc)
	if err == nil {
		var f float64
		if f, err = source.Number(v); err == nil {
			return source.Value{V: f}
		}
	}
	if errors.Is(err, source.ErrNoValue) {
		return source.NoValue("%s at %q: %v", shown, p, err)
	}
	return source.Value{Err: fmt.Errorf("%s at %q: %w", shown, p, err)}
}

// Close drops idle connections.
func (b *backend) Close() error { return b.client.Close() }
