package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is the cloudwatch source's connection config.
type Conn struct {
	config.Calls `yaml:",inline"`
	awsconn.AWS  `yaml:",inline"`
	Lag          config.Duration `yaml:"lag" default:"2m" doc:"How far behind now the window read ends: CloudWatch's newest minutes are incomplete."`
	Period       config.Duration `yaml:"period" default:"60s" doc:"The period of the statistics read, unless a signal sets its own."`
}

// Validate checks the limits, the AWS connection, the lag and the period.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate(), c.AWS.Validate()}
	if c.Lag.D() < 0 {
		errs = append(errs, config.Problem("lag", "must be ≥ 0, not %s", c.Lag))
	}
	if err := checkPeriod(c.Period.D()); err != nil {
		errs = append(errs, config.Problem("period", "%v", err))
	}
	return errors.Join(errs...)
}

// Query is one CloudWatch metric statistic.
type Query struct {
	Namespace  string            `yaml:"namespace" doc:"The metric's namespace, e.g. AWS/SQS. Required."`
	Metric     string            `yaml:"metric" doc:"The metric's name. Required."`
	Dimensions map[string]string `yaml:"dimensions" doc:"The metric's dimensions, name to value; values are templates over {{.Group}}."`
	Stat       string            `yaml:"stat" default:"Average" doc:"The statistic: Average, Sum, Maximum, Minimum, SampleCount or a percentile pNN (p99, p99.9)."`
	Period     config.Duration   `yaml:"period" doc:"The statistic's period, overriding the source's: 1s, 5s, 10s, 30s or a multiple of 60s."`
}

var percentile = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,10})?|100)$`)

// Validate checks the metric, statistic, period and templates.
func (q *Query) Validate() error {
	var errs []error
	if q.Namespace == "" {
		errs = append(errs, config.Problem("namespace", "required"))
	}
	if q.Metric == "" {
		errs = append(errs, config.Problem("metric", "required"))
	}
	if len(q.Dimensions) > 30 {
		errs = append(errs, config.Problem("dimensions", "at most 30, not %d", len(q.Dimensions)))
	}
	for _, k := range slices.Sorted(maps.Keys(q.Dimensions)) {
		if k == "" {
			errs = append(errs, config.Problem("dimensions", "a dimension's name is empty"))
		}
		if _, err := config.ParseTemplate("dimension", q.Dimensions[k]); err != nil {
			errs = append(errs, config.Problem("dimensions."+k, "%v", err))
		}
	}
	switch {
	case q.Stat == "Average", q.Stat == "Sum", q.Stat == "Maximum", q.Stat == "Minimum", q.Stat == "SampleCount":
	case percentile.MatchString(q.Stat):
	default:
		errs = append(errs, config.Problem("stat", "must be Average, Sum, Maximum, Minimum, SampleCount or pNN, not %q", q.Stat))
	}
	if q.Period != 0 {
		if err := checkPeriod(q.Period.D()); err != nil {
			errs = append(errs, config.Problem("period", "%v", err))
		}
	}
	return errors.Join(errs...)
}

func checkPeriod(p time.Duration) error {
	switch {
	case p == time.Second, p == 5*time.Second, p == 10*time.Second, p == 30*time.Second:
	case p > 0 && p%time.Minute == 0:
	default:
		return fmt.Errorf("must be 1s, 5s, 10s, 30s or a multiple of 60s, not %s", config.Duration(p))
	}
	return nil
}

// Kind is the cloudwatch source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("cloudwatch",
		"Reads the newest datapoint of CloudWatch metric statistics, all of a tick's in one GetMetricData.",
		source.Named, open)
}

// maxQueries is GetMetricData's limit of MetricDataQueries per request.
const maxQueries = 500

// window is how many periods back from now−lag a call looks for the
// newest datapoint: a metric that reports only now and then still has one.
const window = 5

type backend struct {
	client *cloudwatch.Client
	conn   *Conn
	clock  clock.Clock
	cache  source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	cfg, err := c.AWS.Config(context.Background())
	if err != nil {
		return nil, err
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	client := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.BaseEndpoint = c.EndpointURL() })
	return &backend{client: client, conn: c, clock: clk}, nil
}

// metric is one read's statistic with its dimensions rendered.
type metric struct {
	namespace, name, stat string
	period                time.Duration
	dims                  [][2]string // sorted by name
}

func (b *backend) metric(r source.Read[Query]) (metric, error) {
	q := r.Query
	m := metric{namespace: q.Namespace, name: q.Metric, stat: q.Stat, period: q.Period.D()}
	if m.period == 0 {
		m.period = b.conn.Period.D()
	}
	for _, k := range slices.Sorted(maps.Keys(q.Dimensions)) {
		v, err := b.cache.Render(q.Dimensions[k], r.Group, nil)
		if err != nil {
			return metric{}, fmt.Errorf("dimension %s: %w", k, err)
		}
		m.dims = append(m.dims, [2]string{k, v})
	}
	return m, nil
}

func (m metric) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s/%s", m.namespace, m.name, m.stat, config.Duration(m.period))
	for _, d := range m.dims {
		fmt.Fprintf(&b, " %s=%s", d[0], d[1])
	}
	return b.String()
}

// Plan puts every read in one call: GetMetricData answers up to 500
// statistics a request, so a tick costs one request per 500 distinct
// statistics.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	m, err := b.metric(r)
	if err != nil {
		return "", "", err
	}
	return "", m.String(), nil
}

// Call asks every read's statistic, 500 to a request, over the window
// ending lag before now, and answers each with its newest datapoint.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	ms := make([]metric, len(reads))
	var longest time.Duration
	for i, r := range reads {
		m, err := b.metric(r)
		if err != nil {
			return nil, err
		}
		ms[i] = m
		longest = max(longest, m.period)
	}
	end := b.clock.Now().Add(-b.conn.Lag.D()).Truncate(time.Second)
	start := end.Add(-window * longest)
	vals := make([]source.Value, len(reads))
	for from := 0; from < len(ms); from += maxQueries {
		to := min(from+maxQueries, len(ms))
		if err := b.chunk(ctx, start, end, ms[from:to], vals[from:to]); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// chunk asks one GetMetricData (and its further pages) for up to 500
// statistics and fills their values.
func (b *backend) chunk(ctx context.Context, start, end time.Time, ms []metric, vals []source.Value) error {
	queries := make([]types.MetricDataQuery, len(ms))
	for i, m := range ms {
		dims := make([]types.Dimension, len(m.dims))
		for j, d := range m.dims {
			dims[j] = types.Dimension{Name: aws.String(d[0]), Value: aws.String(d[1])}
		}
		queries[i] = types.MetricDataQuery{
			// Ids must match ^[a-z][a-zA-Z0-9_]*$; the index finds the read.
			Id: aws.String("q" + strconv.Itoa(i)),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String(m.namespace), MetricName: aws.String(m.name), Dimensions: dims},
				Period: aws.Int32(int32(m.period / time.Second)),
				Stat:   aws.String(m.stat),
			},
			ReturnData: aws.Bool(true),
		}
	}
	type newest struct {
		at     time.Time
		v      float64
		status types.StatusCode
		msg    string
	}
	got := make([]newest, len(ms))
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end),
		MetricDataQueries: queries, ScanBy: types.ScanByTimestampDescending,
	}
	for {
		out, err := b.client.GetMetricData(ctx, in)
		if err != nil {
			return classify(fmt.Errorf("get metric data (%d statistics): %w", len(ms), err))
		}
		for _, r := range out.MetricDataResults {
			i, err := strconv.Atoi(strings.TrimPrefix(aws.ToString(r.Id), "q"))
			if err != nil || i < 0 || i >= len(ms) {
				continue
			}
			g := &got[i]
			g.status = r.StatusCode
			for _, m := range r.Messages {
				g.msg = aws.ToString(m.Code) + ": " + aws.ToString(m.Value)
			}
			for j, at := range r.Timestamps {
				if j < len(r.Values) && at.After(g.at) {
					g.at, g.v = at, r.Values[j]
				}
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	for i, g := range got {
		switch {
		case !g.at.IsZero():
			// A datapoint stamped t covers [t, t+period) and is read lag
			// later at the soonest: its age counts from then, so a
			// signal's stale time measures how far the metric has fallen
			// behind what CloudWatch can give, not CloudWatch's own delay.
			vals[i] = source.Value{V: g.v, At: g.at.Add(ms[i].period + b.conn.Lag.D())}
		case g.status == types.StatusCodeInternalError || g.status == types.StatusCodeForbidden:
			vals[i] = source.Value{Err: fmt.Errorf("%s: %s %s", ms[i], g.status, g.msg)}
		default:
			vals[i] = source.NoValue("datapoint of %s from %s to %s", ms[i], start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
	}
	return nil
}

// classify marks err retryable when the SDK's rules say a retry may cure it.
func classify(err error) error {
	if awsconn.Transient(err) {
		return source.Retryable(err)
	}
	return err
}
