package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
)

// maxBody bounds what ebb reads from any endpoint.
const maxBody = 4 << 20

// Metric selects samples of one metric whose labels include Labels.
type Metric struct {
	Name   string
	Labels map[string]string
}

// ParseMetric sums the samples of m in a Prometheus text-format document.
// found is false when the document has no matching sample.
func ParseMetric(r io.Reader, m Metric) (v float64, found bool, err error) {
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(r, maxBody))
	if err != nil {
		return 0, false, fmt.Errorf("parse metrics: %w", err)
	}
	fam, ok := fams[m.Name]
	if !ok {
		return 0, false, nil
	}
	for _, s := range fam.GetMetric() {
		if !matches(s.GetLabel(), m.Labels) {
			continue
		}
		x, ok := value(fam.GetType(), s)
		if !ok {
			return 0, false, fmt.Errorf("metric %s: histograms and summaries are not single values", m.Name)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false, fmt.Errorf("metric %s is %v, not a finite number", m.Name, x)
		}
		v += x
		found = true
	}
	return v, found, nil
}

func matches(labels []*dto.LabelPair, want map[string]string) bool {
	for k, v := range want {
		ok := false
		for _, l := range labels {
			if l.GetName() == k && l.GetValue() == v {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func value(t dto.MetricType, s *dto.Metric) (float64, bool) {
	switch t {
	case dto.MetricType_COUNTER:
		return s.GetCounter().GetValue(), true
	case dto.MetricType_GAUGE:
		return s.GetGauge().GetValue(), true
	case dto.MetricType_UNTYPED:
		return s.GetUntyped().GetValue(), true
	}
	return 0, false
}

// Scrape fetches url and reads metric m from it.
func Scrape(ctx context.Context, client *http.Client, url string, m Metric) (float64, bool, error) {
	body, err := get(ctx, client, url)
	if err != nil {
		return 0, false, err
	}
	defer body.Close()
	v, found, err := ParseMetric(body, m)
	if err != nil {
		return 0, false, fmt.Errorf("scrape %s: %w", url, err)
	}
	return v, found, nil
}

func get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("get %s: %w", url, &StatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	return resp.Body, nil
}

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return e.Status }

// Transient reports whether a read that failed with err may succeed if
// tried again soon: network errors, timeouts, 5xx, 408 and 429 may; other
// answers and documents that do not parse will not.
func Transient(err error) bool {
	if errors.Is(err, errRetryable) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

var errRetryable = errors.New("retryable")

type retryable struct{ err error }

func (r retryable) Error() string   { return r.err.Error() }
func (r retryable) Unwrap() []error { return []error{r.err, errRetryable} }

// Retryable marks err as transient: a backend that is busy, throttling or
// restarting, which a later attempt may find well. Kinds wrap the errors of
// their clients that mean so (HTTP errors and network errors are
// recognised without it).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}
