package signal

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fakeEnv struct {
	values map[string]float64
	series map[string]*Series
}

func (f fakeEnv) Value(n string) (float64, bool) { v, ok := f.values[n]; return v, ok }
func (f fakeEnv) Series(n string) *Series        { return f.series[n] }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func known(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{name: "empty", src: "  ", want: "expression is empty"},
		{name: "unknown signal", src: "cpu + memx", want: `unknown signal "memx"`},
		{name: "syntax", src: "cpu +", want: "invalid expression"},
		{name: "boolean result", src: "cpu > 1", want: "invalid expression"},
		{name: "window of a number", src: "rate(1)", want: "first argument must be a signal name"},
		{name: "bad window", src: `avg(cpu, "soon")`, want: `window must be a positive duration`},
		{name: "window not a string", src: `avg(cpu, 5)`, want: `window must be a quoted duration`},
		{name: "unknown in window", src: `deriv(lag)`, want: `unknown signal "lag"`},
		{name: "too many args", src: `rate(cpu, "1m", "2m")`, want: "takes a signal and an optional window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, known("cpu", "mem"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile(%q) = %v, want error containing %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestEval(t *testing.T) {
	backlog := &Series{Horizon: 10 * time.Minute}
	for i, v := range []float64{100, 130, 160, 190} { // +30 per 15 s = 2/s
		backlog.Add(t0.Add(time.Duration(i)*15*time.Second), v)
	}
	counter := &Series{Horizon: 10 * time.Minute}
	for i, v := range []float64{10, 40, 5, 35} { // reset at the third sample
		counter.Add(t0.Add(time.Duration(i)*10*time.Second), v)
	}
	now := t0.Add(45 * time.Second)
	env := fakeEnv{
		values: map[string]float64{"ready": 10, "cpu": 0.5, "mem": 0.75, "backlog": 190, "throughput": 95, "zero": 0},
		series: map[string]*Series{"backlog": backlog, "counter": counter},
	}
	tests := []struct {
		name, src   string
		want        float64
		wantMissing string
	}{
		{name: "max of two", src: "max(cpu, mem)", want: 0.75},
		{name: "ratio", src: "backlog / throughput", want: 2},
		{name: "deriv", src: "deriv(backlog)", want: 2},
		{name: "avg explicit window", src: `avg(backlog, "20s")`, want: (160 + 190) / 2.0},
		{name: "rate handles reset", src: `rate(counter, "1m")`, want: (30 + 5 + 30) / 30.0},
		{name: "integer result", src: "1 + 2", want: 3},
		{name: "per instance", src: "backlog / ready", want: 19},
		{name: "division by zero is missing", src: "backlog / zero", wantMissing: "not a finite number"},
		{name: "missing input", src: "cpu + mem + absent", wantMissing: "absent is missing"},
		{name: "no history", src: "rate(cpu)", wantMissing: "rate(cpu) has no history"},
		{name: "too few samples", src: `deriv(backlog, "5s")`, wantMissing: "too few samples"},
	}
	names := known("cpu", "mem", "backlog", "throughput", "zero", "counter", "absent")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.src, names)
			if err != nil {
				t.Fatal(err)
			}
			got, missing, ok := e.Eval(now, env)
			if tt.wantMissing != "" {
				if ok || !strings.Contains(missing, tt.wantMissing) {
					t.Fatalf("Eval = %v, %q, %v; want missing %q", got, missing, ok, tt.wantMissing)
				}
				return
			}
			if !ok || math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("Eval = %v, %q, %v; want %v", got, missing, ok, tt.want)
			}
		})
	}
}

func TestDepsAndWindows(t *testing.T) {
	e, err := Compile(`max(cpu, mem) + deriv(lag) + avg(lag, "5m") + rate(req)`, known("cpu", "mem", "lag", "req"))
	if err != nil {
		t.Fatal(err)
	}
	e.SetWindow(2 * time.Minute)
	if diff := cmp.Diff([]string{"cpu", "lag", "mem", "req"}, e.Deps()); diff != "" {
		t.Errorf("Deps (-want +got):\n%s", diff)
	}
	want := map[string]time.Duration{"lag": 5 * time.Minute, "req": 2 * time.Minute}
	if diff := cmp.Diff(want, e.Windows()); diff != "" {
		t.Errorf("Windows (-want +got):\n%s", diff)
	}
}

func TestSeriesOrderAndHorizon(t *testing.T) {
	s := &Series{Horizon: time.Minute}
	s.Add(t0, 1)
	s.Add(t0.Add(30*time.Second), 2)
	s.Add(t0.Add(10*time.Second), 99) // older: ignored
	s.Add(t0.Add(30*time.Second), 3)  // same time: replaces
	s.Add(t0.Add(90*time.Second), 4)  // drops t0
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	if last, _ := s.Last(); last.V != 4 {
		t.Fatalf("Last = %v, want 4", last.V)
	}
	if v, _ := s.Avg(t0.Add(90*time.Second), time.Hour); v != 3.5 {
		t.Fatalf("Avg = %v, want 3.5", v)
	}
}
