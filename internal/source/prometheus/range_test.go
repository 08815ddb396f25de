package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// TestRangeAgainstPrometheus: a range read of a real Prometheus returns
// each group's points, with one range query for all groups sharing a
// labelled query and one per group otherwise.
func TestRangeAgainstPrometheus(t *testing.T) {
	st := shared(t)
	proxy := countingProxy(t, st.prom.URL)
	st.exp.waiting.WithLabelValues("range-a").Set(7)
	st.exp.waiting.WithLabelValues("range-b").Set(8)
	ctx := context.Background()
	c := testConn(proxy.URL)
	groups := []string{"range-a", "range-b", "range-missing"}
	values := map[string]float64{"range-a": 7, "range-b": 8}

	for _, tt := range []struct {
		name    string
		q       Query
		queries int64
	}{
		{name: "by label", q: Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: defaultValue}, queries: 1},
		{name: "per group", q: Query{Query: `sum(jobs_waiting{job="{{.Group}}"})`, Value: defaultValue}, queries: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string][]Point
			eventually(t, "range read", func() error {
				end := (clock.Real{}).Now()
				proxy.ranges.Store(0)
				var err error
				if got, err = Range(ctx, c, &tt.q, groups, end.Add(-10*time.Second), end, time.Second); err != nil {
					return err
				}
				if len(got["range-a"]) < 3 || len(got["range-b"]) < 3 {
					return fmt.Errorf("%d and %d points so far", len(got["range-a"]), len(got["range-b"]))
				}
				return nil
			})
			if n := proxy.ranges.Load(); n != tt.queries {
				t.Errorf("%d range queries, want %d", n, tt.queries)
			}
			for g, v := range values {
				for i, p := range got[g] {
					if p.V != v {
						t.Errorf("%s point %d = %v, want %v", g, i, p.V, v)
					}
					if i > 0 && p.T.Sub(got[g][i-1].T) != time.Second {
						t.Errorf("%s points %d and %d are %v apart, want 1s", g, i-1, i, p.T.Sub(got[g][i-1].T))
					}
				}
			}
			if pts, ok := got["range-missing"]; !ok || len(pts) != 0 {
				t.Errorf("missing group: %v, %v; want an empty entry", pts, ok)
			}
		})
	}
}

// rangeFake answers range queries with one point per step for series
// job="g1" (the time in seconds, NaN at start+5s) and job="g2" (its
// negative), and records the ranges asked.
type rangeFake struct {
	*fake
	mu    sync.Mutex
	asked [][3]float64 // start, end, step
}

func newRangeFake(t *testing.T, series ...string) *rangeFake {
	rf := &rangeFake{}
	rf.fake = newFake(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		var a [3]float64
		for i, k := range []string{"start", "end", "step"} {
			a[i], _ = strconv.ParseFloat(r.Form.Get(k), 64)
		}
		rf.mu.Lock()
		rf.asked = append(rf.asked, a)
		first := rf.asked[0][0]
		rf.mu.Unlock()
		if (a[1]-a[0])/a[2] > maxPoints {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`))
			return
		}
		var b strings.Builder
		b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
		for i, job := range series {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"metric":{"job":%q},"values":[`, job)
			for ts := a[0]; ts <= a[1]; ts += a[2] {
				if ts > a[0] {
					b.WriteByte(',')
				}
				v := strconv.FormatFloat(ts, 'f', -1, 64)
				switch {
				case job == "g1" && ts == first+5:
					v = "NaN"
				case job != "g1":
					v = "-" + v
				}
				fmt.Fprintf(&b, `[%s,%q]`, strconv.FormatFloat(ts, 'f', -1, 64), v)
			}
			b.WriteString(`]}`)
		}
		b.WriteString(`]}}`)
		w.Write([]byte(b.String()))
	})
	return rf
}

// TestRangeChunks: a range longer than 11,000 steps is read in chunks of
// at most 11,000 points that meet without overlapping.
func TestRangeChunks(t *testing.T) {
	f := newRangeFake(t, "g1", "g2")
	start := time.Unix(1_700_000_000, 0)
	const steps = 25000
	end := start.Add(steps * time.Second)
	q := &Query{Query: "sum by (job) (x)", Label: "job", Value: defaultValue}
	got, err := Range(context.Background(), testConn(f.URL), q, []string{"g1", "g2", "g3"}, start, end, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	asked := f.asked
	f.mu.Unlock()
	if len(asked) != 3 {
		t.Fatalf("%d range queries, want 3: %v", len(asked), asked)
	}
	next := float64(start.Unix())
	for _, a := range asked {
		if a[0] != next || a[2] != 1 || (a[1]-a[0])/a[2] >= maxPoints {
			t.Errorf("chunk %v: want start %v, step 1, under %d points", a, next, maxPoints)
		}
		next = a[1] + a[2]
	}
	if last := asked[len(asked)-1][1]; last != float64(end.Unix()) {
		t.Errorf("last chunk ends at %v, want %v", last, end.Unix())
	}
	if n := len(got["g1"]); n != steps+1-1 {
		t.Errorf("g1: %d points, want %d (one NaN left out)", n, steps)
	}
	if n := len(got["g2"]); n != steps+1 {
		t.Errorf("g2: %d points, want %d", n, steps+1)
	}
	for i, p := range got["g2"] {
		if want := start.Add(time.Duration(i) * time.Second); !p.T.Equal(want) || p.V != -float64(want.Unix()) {
			t.Fatalf("g2 point %d = %+v, want %v at %v", i, p, -want.Unix(), want)
		}
	}
	if pts, ok := got["g3"]; !ok || len(pts) != 0 {
		t.Errorf("g3: %v, %v; want an empty entry", pts, ok)
	}
}

func TestRangeErrors(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	labelled := &Query{Query: "x", Label: "job", Value: defaultValue}
	perGroup := &Query{Query: "x", Value: defaultValue}
	tests := []struct {
		name    string
		series  []string
		handler http.HandlerFunc
		q       *Query
		end     time.Time
		step    time.Duration
		err     []string
		hits    int64
	}{
		{name: "no step", q: labelled, end: start, step: 0, err: []string{"range step must be > 0"}},
		{name: "backwards", q: labelled, end: start.Add(-time.Second), step: time.Second, err: []string{"is before its start"}},
		{name: "invalid query", q: &Query{Query: "sum(", Label: "job"}, end: start, step: time.Second,
			err: []string{"range read: query.query: 1:", "query.value: may not be empty"}},
		{name: "several series per label value", series: []string{"g1", "g1"}, q: labelled, end: start.Add(time.Minute), step: time.Second,
			err: []string{`several series with job="g1"`, "must aggregate by (job)"}, hits: 1},
		{name: "several series per group", series: []string{"g1", "g2"}, q: perGroup, end: start.Add(time.Minute), step: time.Second,
			err: []string{"returned 2 series; it must return one"}, hits: 1},
		{name: "bad PromQL, once", q: labelled, end: start.Add(time.Minute), step: time.Second, handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		}, err: []string{"bad_data: parse error"}, hits: 1},
		{name: "unavailable, tries", q: labelled, end: start.Add(time.Minute), step: time.Second, handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, err: []string{"503 Service Unavailable"}, hits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *fake
			if tt.handler != nil {
				f = newFake(t, tt.handler)
			} else {
				f = newRangeFake(t, tt.series...).fake
			}
			_, err := Range(context.Background(), fastConn(f.URL), tt.q, []string{"g1"}, start, tt.end, tt.step)
			errContains(t, err, tt.err...)
			if f.hits.Load() != tt.hits {
				t.Errorf("%d queries, want %d", f.hits.Load(), tt.hits)
			}
		})
	}
}
