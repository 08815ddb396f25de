package source

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
			v, found, err := ParseMetric(strings.NewReader(tt.doc), tt.m)
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
		v, found, err := ParseMetric(strings.NewReader(doc), Metric{Name: "x"})
		if err == nil && found && (v != v) {
			t.Fatalf("NaN from %q", doc)
		}
	})
}

func TestLookupAndNumber(t *testing.T) {
	doc := []byte(`{"queued": 12, "busy": true, "s": "3.5", "workers": [{"busy": false}], "bad": "x"}`)
	tests := []struct {
		path    string
		want    float64
		wantErr string
	}{
		{path: "queued", want: 12},
		{path: "busy", want: 1},
		{path: "s", want: 3.5},
		{path: "workers.0.busy", want: 0},
		{path: "workers.1.busy", wantErr: `no "workers.1.busy"`},
		{path: "missing", wantErr: `no "missing"`},
		{path: "bad", wantErr: `"x" is not a number`},
		{path: "workers", wantErr: "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			v, err := Lookup(doc, tt.path)
			var f float64
			if err == nil {
				f, err = Number(v)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || f != tt.want {
				t.Fatalf("= %v, %v; want %v", f, err, tt.want)
			}
		})
	}
}

func TestHTTPSources(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Write([]byte(metrics))
		case "/stats":
			w.Write([]byte(`{"queued": 7}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, found, err := Scrape(ctx, srv.Client(), srv.URL+"/metrics", Metric{Name: "ebb_worker_busy"}); err != nil || !found || v != 1 {
		t.Fatalf("Scrape = %v %v %v", v, found, err)
	}
	if v, err := JSONNumber(ctx, srv.Client(), srv.URL+"/stats", "queued"); err != nil || v != 7 {
		t.Fatalf("JSONNumber = %v %v", v, err)
	}
	if _, err := JSONNumber(ctx, srv.Client(), srv.URL+"/nope", "queued"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want the 404", err)
	}
}

func TestPush(t *testing.T) {
	p := NewPush()
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	add := func(at time.Time, vals map[string]float64) {
		if err := p.AddMany(at, map[string]map[string]float64{"web": vals}); err != nil {
			t.Fatal(err)
		}
	}
	add(t0.Add(time.Second), map[string]float64{"cpu": 0.7})
	add(t0, map[string]float64{"cpu": 0.1, "rps": 3}) // older cpu ignored
	got := p.Take("web")
	if len(got) != 2 {
		t.Fatalf("Take = %v", got)
	}
	for _, s := range got {
		if s.Signal == "cpu" && s.V != 0.7 {
			t.Fatalf("cpu = %v, want the newer 0.7", s.V)
		}
	}
	if len(p.Take("web")) != 0 {
		t.Fatal("Take did not forget")
	}
}

func TestPushAddMany(t *testing.T) {
	p := NewPush()
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	if err := p.AddMany(t0.Add(time.Second), map[string]map[string]float64{"web": {"cpu": 0.7}}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]map[string]float64{"web": {"cpu": 0.1}, "batch": {"backlog": math.Inf(1)}}
	if err := p.AddMany(t0.Add(2*time.Second), bad); err == nil || !strings.Contains(err.Error(), "group batch, signal backlog: +Inf is not a finite number") {
		t.Fatalf("err = %v; want the infinite backlog named", err)
	}
	err := p.AddMany(t0, map[string]map[string]float64{"web": {"cpu": 0.1, "rps": 3}, "batch": {"backlog": 30}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, g := range []string{"web", "batch"} {
		got[g] = map[string]float64{}
		for _, s := range p.Take(g) {
			got[g][s.Signal] = s.V
		}
	}
	// The refused batch left nothing; the older cpu did not replace the newer.
	want := map[string]map[string]float64{"web": {"cpu": 0.7, "rps": 3}, "batch": {"backlog": 30}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("taken (-want +got):\n%s", diff)
	}
}
