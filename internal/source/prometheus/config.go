package prometheus

import (
	"errors"
	"net/url"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/httpget"
)

// Conn is a Prometheus server (or one with its HTTP API: Thanos, Mimir,
// VictoriaMetrics), the value under sources.NAME.prometheus.
type Conn struct {
	URL              string `yaml:"url" doc:"The server's base URL, e.g. http://prometheus:9090 (with its path prefix, if any). Required."`
	httpget.Settings `yaml:",inline"`
	config.Calls     `yaml:",inline"`
}

// Validate reports every problem of the connection config.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate()}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, config.Problem("url", "required"))
	case err != nil:
		errs = append(errs, config.Problem("url", "not a URL: %v", errors.Unwrap(err)))
	case u.User != nil:
		errs = append(errs, config.Problem("url", "may not hold credentials: use basic_auth, whose password comes from env or a file"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, config.Problem("url", "must start with http:// or https://"))
	case u.Host == "":
		errs = append(errs, config.Problem("url", "names no host"))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, config.Problem("url", "must be the server's base URL, without ?query or #fragment"))
	case c.TLS != nil && u.Scheme != "https":
		errs = append(errs, config.Problem("tls", "applies to https URLs only; url is %s", u.Scheme))
	}
	errs = append(errs, c.Settings.Validate())
	return errors.Join(errs...)
}

// Query is what one signal reads, the value under
// groups[].signals.NAME.prometheus.
type Query struct {
	Query string `yaml:"query" doc:"A PromQL instant query. Required. With label, one query answers every group that shares it; without, it may use {{.Group}} and must return one series or a scalar."`
	Label string `yaml:"label" doc:"The label whose value names a group's series in the result (e.g. job); the query then aggregates by it and may not use templates. Empty: the query reads one group's value."`
	Value string `yaml:"value" default:"'{{.Group}}'" doc:"With label: the label's value on a group's series, a template of {{.Group}}."`
}

// Validate reports every problem of the signal config. It checks the
// PromQL syntax with Prometheus's own parser; whether the server knows
// the functions used is the server's to say.
func (q *Query) Validate() error {
	var errs []error
	switch {
	case strings.TrimSpace(q.Query) == "":
		errs = append(errs, config.Problem("query", "required"))
	case q.Label != "" && strings.Contains(q.Query, "{{"):
		errs = append(errs, config.Problem("query", "may not use templates with label: one query, as written, answers every group (its series tell groups apart by %s)", q.Label))
	default:
		if err := checkPromQL(q.Query); err != nil {
			errs = append(errs, config.Problem("query", "%v", err))
		}
	}
	if q.Label != "" && !model.LabelName(q.Label).IsValidLegacy() {
		errs = append(errs, config.Problem("label", "%q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", q.Label))
	}
	switch {
	case q.Value == "":
		errs = append(errs, config.Problem("value", "may not be empty: a group's series carries a value of label"))
	case q.Label == "" && q.Value != defaultValue:
		errs = append(errs, config.Problem("value", "applies only with label"))
	default:
		if err := source.GroupTemplate("value", q.Value); err != nil {
			errs = append(errs, config.Problem("value", "%v", err))
		}
	}
	return errors.Join(errs...)
}

// defaultValue is Query.Value's default: the series whose label is the
// group's name.
const defaultValue = "{{.Group}}"

// checkPromQL parses query, rendered for a sample group when it is a
// template.
func checkPromQL(query string) error {
	if err := source.GroupTemplate("query", query); err != nil {
		return err
	}
	text, err := new(source.Templates).Render(query, "g", nil)
	if err != nil {
		return err
	}
	// Permissive: experimental functions and newer syntax pass here; the
	// server refuses what it does not support, with its own message.
	p := parser.NewParser(parser.Options{EnableExperimentalFunctions: true, EnableBinopFillModifiers: true, EnableUnquotedUTF8Names: true})
	if _, err := p.ParseExpr(text); err != nil {
		return err
	}
	return nil
}
