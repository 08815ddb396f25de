package daemon

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// mixedYAML is a group with every kind of signal: pushed ones with two
// stale times, a fetched one and a computed one.
const mixedYAML = `
  - name: mixed
    capacity: {min: 1, max: 10}
    interval: 10s
    signals:
      queue: {stale: 1m}
      fresh: {stale: 10s}
      fetched: {http_json: {url: "http://127.0.0.1:1/stats", path: queued}}
      double: {expr: "queue * 2"}
    policies:
      - queue: {signal: queue, per_instance: 10}
`

func TestPushManyIsAllOrNothing(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10)+groupYAML("batch", 10)+mixedYAML, Options{})
	now := h.clock.Now()
	groups := []string{"web", "batch", "mixed"}

	bad := map[string]map[string]float64{
		"web":   {"queue": 50},
		"batch": {},
		"nope":  {"queue": 1, "cpu": 2},
		"mixed": {"queue": 3, "fresh": 4, "fetched": 5, "double": 6, "unknown": 7, "nan": math.NaN()},
	}
	err := h.d.PushMany(now.Add(-30*time.Second), bad)
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v (%T); want a *BatchError wrapping ErrInvalid", err, err)
	}
	want := []SampleError{
		{Group: "batch", Reason: "no values"},
		{Group: "mixed", Signal: "double", Reason: "not a pushed signal: ebb computes it (expr)"},
		{Group: "mixed", Signal: "fetched", Reason: "not a pushed signal: ebb reads it (http_json)"},
		{Group: "mixed", Signal: "fresh", Reason: "the time is 30s old, past the signal's stale time 10s (it would count as missing)"},
		{Group: "mixed", Signal: "nan", Reason: "no such signal"},
		{Group: "mixed", Signal: "unknown", Reason: "no such signal"},
		{Group: "nope", Reason: "no such group"},
	}
	if diff := cmp.Diff(want, be.Samples); diff != "" {
		t.Fatalf("bad samples (-want +got):\n%s", diff)
	}
	if be.Total != 9 {
		t.Fatalf("total %d, want 9", be.Total)
	}
	if !strings.HasPrefix(err.Error(), "batch refused, none of its 9 samples applied: group batch: no values; group mixed, signal double: ") {
		t.Fatalf("message %q", err)
	}
	for _, g := range groups {
		if got := h.d.push.Take(g); len(got) != 0 {
			t.Fatalf("the refused batch left %v for %s", got, g)
		}
	}

	// A value that is not finite, in a pushed signal, is named too.
	err = h.d.PushMany(now, map[string]map[string]float64{"web": {"queue": math.Inf(-1)}})
	if !errors.As(err, &be) || len(be.Samples) != 1 || be.Samples[0].Reason != "-Inf is not a finite number" {
		t.Fatalf("err = %v; want -Inf named", err)
	}

	// The batch's time is checked once, for all its samples.
	for _, tt := range []struct {
		name   string
		t      time.Time
		values map[string]map[string]float64
		want   string
	}{
		{"ahead", now.Add(time.Minute), map[string]map[string]float64{"web": {"queue": 1}}, "is 1m ahead of ebb's clock"},
		{"no groups", now, nil, "no groups"},
	} {
		err := h.d.PushMany(tt.t, tt.values)
		if !errors.Is(err, ErrInvalid) || errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: err = %v; want a plain ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}

	// A good batch reaches every group's next decision.
	err = h.d.PushMany(time.Time{}, map[string]map[string]float64{
		"web": {"queue": 50}, "batch": {"queue": 95}, "mixed": {"queue": 30, "fresh": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	for g, queue := range map[string]float64{"web": 50, "batch": 95} {
		if dec, ok := h.last(g); !ok || dec.Inputs[0].Missing || dec.Inputs[0].Value != queue {
			t.Errorf("%s: %+v, %v; want decided from queue %v", g, dec, ok, queue)
		}
	}
}

// BenchmarkPushMany pushes three signals to every group of a daemon in one
// call: the time d.mu is held for a whole batch.
func BenchmarkPushMany(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			var cfg strings.Builder
			for i := range n {
				fmt.Fprintf(&cfg, `
  - name: g%05d
    capacity: {max: 10}
    signals: {queue: {stale: 1m}, cpu: {}, backlog: {}}
    policies: [{queue: {signal: queue, per_instance: 10}}]`, i)
			}
			dir := b.TempDir()
			path := filepath.Join(dir, "ebb.yaml")
			if err := os.WriteFile(path, []byte(configYAML(dir, cfg.String())), 0o600); err != nil {
				b.Fatal(err)
			}
			clk := clock.NewFake(t0)
			d, err := New(Options{ConfigPath: path, Clock: clk, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.st.Close() })
			values := make(map[string]map[string]float64, n)
			for i := range n {
				values[fmt.Sprintf("g%05d", i)] = map[string]float64{"queue": float64(i), "cpu": 0.5, "backlog": 3}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := d.PushMany(t0, values); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
