package prometheus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Kind is the prometheus source kind, for the composition root to
// register.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("prometheus",
		"Reads the value of a PromQL query from Prometheus (or a server with its HTTP API): one query answers every group that shares it.",
		source.Named, open)
}

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	return newBackend(c, deps.Name, deps.Log)
}

// backend answers reads with instant queries.
type backend struct {
	name      string
	api       v1.API
	transport *http.Transport
	timeout   time.Duration
	log       *slog.Logger // nil: warnings are dropped
	tpl       source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

func newBackend(c *Conn, name string, log *slog.Logger) (*backend, error) {
	tr, err := c.Settings.Transport()
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = max(2, c.Concurrency)
	inner, err := api.NewClient(api.Config{Address: c.URL, RoundTripper: tr})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	conn := *c
	return &backend{
		name:      name,
		api:       v1.NewAPI(&client{Client: inner, conn: &conn}),
		transport: tr,
		timeout:   c.Timeout.D(),
		log:       log,
	}, nil
}

// Close closes idle connections.
func (b *backend) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// Call keys start with how the query answers groups: by a label of its
// series, or one query per group.
const (
	byLabel  = "label\x00"
	perGroup = "group\x00"
)

// Plan: with a label, every group sharing the query (as written) and the
// label is answered by one query, and asks for the series whose label
// has its rendered value; without, each distinct rendered query is a call.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	q := r.Query
	if q == nil {
		return "", "", errors.New("no prometheus query")
	}
	if q.Label == "" {
		text, err := b.tpl.Render(q.Query, r.Group, nil)
		if err != nil {
			return "", "", fmt.Errorf("render query for group %s: %w", r.Group, err)
		}
		return perGroup + text, "", nil
	}
	if strings.Contains(q.Query, "{{") {
		return "", "", fmt.Errorf("query %q may not use templates with label %s", q.Query, q.Label)
	}
	value, err := b.value(r)
	if err != nil {
		return "", "", err
	}
	return byLabel + q.Label + "\x00" + q.Query, value, nil
}

// value renders the label value that names r's group.
func (b *backend) value(r source.Read[Query]) (string, error) {
	v, err := b.tpl.Render(r.Query.Value, r.Group, nil)
	if err != nil {
		return "", fmt.Errorf("render value for group %s: %w", r.Group, err)
	}
	if v == "" {
		return "", fmt.Errorf("value %q renders empty for group %s", r.Query.Value, r.Group)
	}
	return v, nil
}

// Call makes one instant query. An answer Prometheus gave but that does
// not fit a read (no series, several, not a number) fails that read
// alone; the query failing fails them all.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	q := reads[0].Query
	text := q.Query
	if q.Label == "" {
		var err error
		if text, err = b.tpl.Render(q.Query, reads[0].Group, nil); err != nil {
			return nil, fmt.Errorf("render query for group %s: %w", reads[0].Group, err)
		}
	}
	val, err := b.query(ctx, text)
	if err != nil {
		return nil, err
	}
	out := make([]source.Value, len(reads))
	if q.Label == "" {
		v := single(text, val)
		for i := range out {
			out[i] = v
		}
		return out, nil
	}
	vec, ok := val.(model.Vector)
	if !ok {
		for i := range out {
			out[i] = source.Value{Err: fmt.Errorf("query %q returned a %s; with label %s it must return an instant vector", text, val.Type(), q.Label)}
		}
		return out, nil
	}
	idx := index(vec, model.LabelName(q.Label))
	for i, r := range reads {
		want, err := b.value(r)
		if err != nil {
			out[i] = source.Value{Err: err}
			continue
		}
		h, ok := idx[want]
		switch {
		case !ok:
			out[i] = source.NoValue("no series with %s=%q in the result of %s", q.Label, want, text)
		case h.n > 1:
			out[i] = source.Value{Err: fmt.Errorf("query %q returned %d series with %s=%q; it must aggregate by (%s)", text, h.n, q.Label, want, q.Label)}
		default:
			out[i] = sampleValue(h.s, q.Label, want)
		}
	}
	return out, nil
}

// hit is the series of a vector carrying one label value, and how many do.
type hit struct {
	s *model.Sample
	n int
}

func index(vec model.Vector, label model.LabelName) map[string]hit {
	idx := make(map[string]hit, len(vec))
	for _, s := range vec {
		v, ok := s.Metric[label]
		if !ok {
			continue
		}
		h := idx[string(v)]
		if h.n == 0 {
			h.s = s
		}
		h.n++
		idx[string(v)] = h
	}
	return idx
}

// single reads the one value of a query answering one group.
func single(text string, val model.Value) source.Value {
	switch v := val.(type) {
	case *model.Scalar:
		return finite(float64(v.Value), v.Timestamp, "query "+text)
	case model.Vector:
		switch len(v) {
		case 0:
			return source.NoValue("no series in the result of %s", text)
		case 1:
			return sampleValue(v[0], "", "")
		}
		return source.Value{Err: fmt.Errorf("query %q returned %d series; it must return one (aggregate it, e.g. sum(...), or set label to answer many groups)", text, len(v))}
	}
	return source.Value{Err: fmt.Errorf("query %q returned a %s; it must return an instant vector or a scalar", text, val.Type())}
}

func sampleValue(s *model.Sample, label, value string) source.Value {
	v := float64(s.Value)
	if s.Histogram == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		return source.Value{V: v, At: s.Timestamp.Time()}
	}
	what := "series " + s.Metric.String()
	if label != "" {
		what = fmt.Sprintf("series %s=%q", label, value)
	}
	if s.Histogram != nil {
		return source.Value{Err: fmt.Errorf("%s is a native histogram, not a number", what)}
	}
	return finite(v, s.Timestamp, what)
}

func finite(v float64, at model.Time, what string) source.Value {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return source.Value{Err: fmt.Errorf("%s is %v, not a finite number", what, v)}
	}
	return source.Value{V: v, At: at.Time()}
}

// query runs an instant query at the server's time (so a clock skew
// between ebb and Prometheus does not hide its newest samples), bounded
// on the server too by the call's timeout.
func (b *backend) query(ctx context.Context, text string) (model.Value, error) {
	val, warnings, _, err := b.api.Query(ctx, text, time.Time{}, v1.WithTimeout(b.timeout))
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", text, classify(err))
	}
	b.warn(text, warnings)
	if val == nil {
		return nil, fmt.Errorf("prometheus query %s: empty answer", text)
	}
	return val, nil
}

func (b *backend) warn(text string, warnings v1.Warnings) {
	if b.log != nil && len(warnings) > 0 {
		b.log.Warn("prometheus query warnings", "source", b.name, "query", text, "warnings", []string(warnings))
	}
}

// classify marks the API errors a later attempt may not see: the server
// failing, timing out or cancelling the query. Bad PromQL (bad_data) and
// a failed evaluation (execution) stay permanent. HTTP 429 and 5xx reach
// here as *source.StatusError (see client.Do), network errors as they
// are: source.Transient knows both.
//
// A server certificate that does not verify reaches here as a *url.Error,
// which source.Transient takes for a network error; it is unwrapped so it
// is not tried again: the next attempt would meet the same certificate.
func classify(err error) error {
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return &certError{msg: err.Error(), err: ce}
	}
	var ae *v1.Error
	if errors.As(err, &ae) {
		switch ae.Type {
		case v1.ErrServer, v1.ErrTimeout, v1.ErrCanceled:
			return source.Retryable(err)
		}
	}
	return err
}

// certError keeps the message of a failed certificate check and only the
// check's error in its chain.
type certError struct {
	msg string
	err error
}

func (e *certError) Error() string { return e.msg }
func (e *certError) Unwrap() error { return e.err }

// client adds the configured credentials and headers to every request,
// revealing the secrets at each call (so a rotated file is picked up), and
// turns HTTP 429 and 5xx answers into *source.StatusError with the
// server's message: client_golang reports them as a generic server error
// (and a 429 as a client error), without the code.
type client struct {
	api.Client
	conn *Conn
}

func (c *client) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	if err := c.conn.Settings.Authorize(req); err != nil {
		return nil, nil, err
	}
	resp, body, err := c.Client.Do(ctx, req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500) {
		return resp, body, err
	}
	se := &source.StatusError{Code: resp.StatusCode, Status: resp.Status}
	if msg := apiMessage(body); msg != "" {
		return resp, body, fmt.Errorf("%w: %s", se, msg)
	}
	return resp, body, se
}

// apiMessage is the error Prometheus put in an error answer's body
// ("timeout: query timed out in query execution"), or "".
func apiMessage(body []byte) string {
	var r struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &r) != nil || r.Error == "" {
		return ""
	}
	if r.ErrorType == "" {
		return r.Error
	}
	return r.ErrorType + ": " + r.Error
}
