package scrape

import (
	"bytes"
	"fmt"
	"math"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
)

// Metric selects samples of one metric whose labels include Labels.
type Metric struct {
	Name   string
	Labels map[string]string
}

// Families parses a Prometheus text-format document once, for every metric
// read from it.
func Families(doc []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// Sum sums the samples of m in parsed families. found is false when there
// is no matching sample.
func Sum(fams map[string]*dto.MetricFamily, m Metric) (v float64, found bool, err error) {
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

// ParseMetric sums the samples of m in a Prometheus text-format document.
func ParseMetric(doc []byte, m Metric) (v float64, found bool, err error) {
	fams, err := Families(doc)
	if err != nil {
		return 0, false, err
	}
	return Sum(fams, m)
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
