package prometheus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Tests in this file read from a real Prometheus 2.42 scraping an exporter
// the test sets values on. Each test uses its own job names: they share
// the server.

func TestReadFollowsTheExporter(t *testing.T) {
	st := shared(t)
	src := openSource(t, testConn(st.prom.URL))
	q := Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: "{{.Group}}"}
	ctx := context.Background()

	for _, n := range []float64{5, 9, 0} {
		st.exp.waiting.WithLabelValues("follow").Set(n)
		eventually(t, fmt.Sprintf("read %v", n), func() error {
			return want(src.Read(ctx, reads(q, "follow"))[0], n)
		})
	}
	v := src.Read(ctx, reads(q, "follow"))[0]
	if age := (clock.Real{}).Now().Sub(v.At); v.At.IsZero() || age < -time.Minute || age > time.Minute {
		t.Errorf("At = %v, want the sample's time, about now", v.At)
	}
	if h := src.Health(); h.Failing || h.LastError != "" {
		t.Errorf("health = %+v, want no failure", h)
	}
}

// TestOneQueryForAllGroups: 1,000 groups (and one without a series)
// sharing a query cost one HTTP request per Read, counted both by a proxy
// in front of Prometheus and by Prometheus's own metrics.
func TestOneQueryForAllGroups(t *testing.T) {
	st := shared(t)
	proxy := countingProxy(t, st.prom.URL)
	src := openSource(t, testConn(proxy.URL))
	ctx := context.Background()

	const n = 1000
	groups := make([]string, 0, n+1)
	for i := range n {
		g := fmt.Sprintf("many-%d", i)
		groups = append(groups, g)
		st.exp.waiting.WithLabelValues(g).Set(float64(i))
	}
	groups = append(groups, "many-missing")
	q := Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: "{{.Group}}"}
	eventually(t, "scrape", func() error {
		return want(src.Read(ctx, reads(q, "many-999"))[0], 999)
	})

	proxy.queries.Store(0)
	before := promQueries(t, st.prom.URL)
	for round := 1; round <= 2; round++ {
		vals := src.Read(ctx, reads(q, groups...))
		if got := proxy.queries.Load(); got != int64(round) {
			t.Fatalf("after %d reads of %d groups: %d queries, want %d", round, len(groups), got, round)
		}
		for i := range n {
			if err := want(vals[i], float64(i)); err != nil {
				t.Fatalf("group %s: %v", groups[i], err)
			}
		}
		if err := isNoValue(vals[n]); err != nil {
			t.Fatalf("missing group: %v", err)
		}
		errContains(t, vals[n].Err, `job="many-missing"`)
	}
	// Prometheus counts a request once its answer is written: poll.
	eventually(t, "prometheus's own count", func() error {
		if d := promQueries(t, st.prom.URL) - before; d != 2 {
			return fmt.Errorf("prometheus served %v queries, want 2", d)
		}
		return nil
	})
}

// TestValueTemplate: the group's series may carry a value derived from its
// name; groups with different templates still share the query.
func TestValueTemplate(t *testing.T) {
	st := shared(t)
	proxy := countingProxy(t, st.prom.URL)
	src := openSource(t, testConn(proxy.URL))
	st.exp.waiting.WithLabelValues("tpl-eu").Set(3)
	st.exp.waiting.WithLabelValues("tpl-us").Set(4)
	reqs := append(
		reads(Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: "tpl-{{.Group}}"}, "eu"),
		reads(Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: "{{.Group}}"}, "tpl-us")...)
	eventually(t, "read", func() error {
		proxy.queries.Store(0)
		vals := src.Read(context.Background(), reqs)
		return errors.Join(want(vals[0], 3), want(vals[1], 4))
	})
	if got := proxy.queries.Load(); got != 1 {
		t.Errorf("%d queries, want 1", got)
	}
}

// TestSeveralSeriesPerGroup: a query that does not aggregate by the label
// fails the groups with several series, not the others.
func TestSeveralSeriesPerGroup(t *testing.T) {
	st := shared(t)
	src := openSource(t, testConn(st.prom.URL))
	st.exp.sharded.WithLabelValues("dup-1", "a").Set(1)
	st.exp.sharded.WithLabelValues("dup-1", "b").Set(2)
	st.exp.sharded.WithLabelValues("dup-2", "a").Set(3)
	q := Query{Query: "jobs_sharded", Label: "job", Value: "{{.Group}}"}
	var vals []source.Value
	eventually(t, "read", func() error {
		vals = src.Read(context.Background(), reads(q, "dup-1", "dup-2"))
		return want(vals[1], 3)
	})
	errContains(t, vals[0].Err, `returned 2 series with job="dup-1"`, "must aggregate by (job)")
	if errors.Is(vals[0].Err, source.ErrNoValue) {
		t.Errorf("several series is an error, not no value")
	}
}

// TestPerGroupQuery: without a label, each group's rendered query is one
// call, and must come back as one series or a scalar.
func TestPerGroupQuery(t *testing.T) {
	st := shared(t)
	proxy := countingProxy(t, st.prom.URL)
	src := openSource(t, testConn(proxy.URL))
	ctx := context.Background()
	for i, g := range []string{"one-1", "one-2", "one-3"} {
		st.exp.waiting.WithLabelValues(g).Set(float64(10 + i))
	}
	sum := Query{Query: `sum(jobs_waiting{job="{{.Group}}"})`, Value: defaultValue}
	eventually(t, "scrape", func() error { return want(src.Read(ctx, reads(sum, "one-3"))[0], 12) })

	proxy.queries.Store(0)
	vals := src.Read(ctx, reads(sum, "one-1", "one-2", "one-3", "one-missing", "one-1"))
	if got := proxy.queries.Load(); got != 4 {
		t.Errorf("%d queries for 4 distinct renderings, want 4", got)
	}
	for i, v := range []float64{10, 11, 12} {
		if err := want(vals[i], v); err != nil {
			t.Errorf("group %d: %v", i, err)
		}
	}
	if err := isNoValue(vals[3]); err != nil {
		t.Error(err)
	}
	if err := want(vals[4], 10); err != nil {
		t.Errorf("repeated group: %v", err)
	}

	tests := []struct {
		name  string
		query string
		group string
		want  float64
		err   []string
	}{
		{name: "scalar", query: `scalar(sum(jobs_waiting{job="{{.Group}}"}))`, group: "one-2", want: 11},
		{name: "scalar NaN", query: `scalar(sum(jobs_waiting{job="{{.Group}}"}))`, group: "one-missing", err: []string{"is NaN, not a finite number"}},
		{name: "several series", query: `jobs_waiting{job=~"one-.*"}`, group: "x", err: []string{"returned 3 series", "aggregate"}},
		{name: "infinite", query: `sum(jobs_waiting{job="{{.Group}}"}) / 0`, group: "one-1", err: []string{"is +Inf, not a finite number"}},
		{name: "range vector", query: `jobs_waiting{job="{{.Group}}"}[1m]`, group: "one-1", err: []string{"returned a matrix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := src.Read(ctx, reads(Query{Query: tt.query, Value: defaultValue}, tt.group))[0]
			if tt.err != nil {
				errContains(t, v.Err, tt.err...)
				return
			}
			if err := want(v, tt.want); err != nil {
				t.Error(err)
			}
		})
	}
	if h := src.Health(); h.Failing {
		t.Errorf("a result that does not fit a read is not the backend failing: %+v", h)
	}
	// client_golang refuses a string result as a bad response.
	v := src.Read(ctx, reads(Query{Query: `"hello"`, Value: defaultValue}, "x"))[0]
	errContains(t, v.Err, "bad_response", `unexpected value type "string"`)
}

// TestBadPromQLIsNotRetried: Prometheus refuses the query (400 bad_data);
// its message reaches the read, after one attempt.
func TestBadPromQLIsNotRetried(t *testing.T) {
	st := shared(t)
	proxy := countingProxy(t, st.prom.URL)
	src := openSource(t, testConn(proxy.URL))
	q := Query{Query: "sum by (job (jobs_waiting", Label: "job", Value: defaultValue}
	vals := src.Read(context.Background(), reads(q, "a", "b"))
	for _, v := range vals {
		errContains(t, v.Err, "bad_data", "parse error", "sum by (job (jobs_waiting")
	}
	if got := proxy.queries.Load(); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
	h := src.Health()
	if h.Calls != 1 || !h.Failing || h.LastError == "" {
		t.Errorf("health = %+v, want 1 failed call", h)
	}
}

// TestServerGoesAway: Prometheus stopping mid-test fails the reads with a
// network error after the configured tries; health says so.
func TestServerGoesAway(t *testing.T) {
	shared(t) // skips or fails as the pool does when Prometheus is missing
	st, err := startStack()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	c := testConn(st.prom.URL)
	c.Timeout = config.Duration(200 * time.Millisecond)
	src := openSource(t, c)
	q := Query{Query: "vector(1)", Value: defaultValue}
	if err := want(src.Read(context.Background(), reads(q, "g"))[0], 1); err != nil {
		t.Fatal(err)
	}
	st.prom.Stop()
	v := src.Read(context.Background(), reads(q, "g"))[0]
	errContains(t, v.Err, "prometheus query vector(1)", "connection refused")
	h := src.Health()
	if h.Calls != 1+3 || h.Failures != 3 || !h.Failing {
		t.Errorf("health = %+v, want 1 good call and 3 failed attempts", h)
	}
}
