// Package sourcetest is the conformance suite every source kind passes,
// against its real backend: values read follow the backend as it changes,
// many groups are answered in one Read with one value each, what is absent
// is absent (ErrNoValue, or 0 where the backend says so), and a Read whose
// context has ended returns at once with errors, never stale values.
//
// Real backends update on their own schedule (Prometheus scrapes every
// second, RabbitMQ samples its queues), so the suite polls them with the
// wall clock, for at most the harness's Settle: the one place a source test
// waits on time rather than stepping a fake clock.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Absent says what a kind reads for a group its backend holds nothing for.
type Absent int

const (
	// NoValue: an error wrapping source.ErrNoValue (no series, no row).
	NoValue Absent = iota
	// Zero: the value 0 (the length of a list that does not exist).
	Zero
)

// Harness is one backend the suite works with.
type Harness struct {
	// Open opens a source of the kind on the backend.
	Open func(t *testing.T) *source.Source
	// Set makes the backend hold v as group's value: push items, write a
	// row, change what an exporter serves.
	Set func(t *testing.T, group string, v float64)
	// Query is what a signal of group reads (a pointer of the kind's query
	// type).
	Query func(group string) any
	// Absent is what a group the backend holds nothing for reads.
	Absent Absent
	// Settle is how long the backend may take to show a Set (Prometheus
	// scrapes on an interval); 0: at once.
	Settle time.Duration
	// Groups is how many groups read in one Read (default 50).
	Groups int
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Groups == 0 {
		h.Groups = 50
	}
	src := h.Open(t)
	t.Cleanup(func() { _ = src.Close() })
	// Groups named after the test, so suites sharing one server (one per
	// package) never read each other's values.
	prefix := "conf-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	groups := make([]string, h.Groups)
	want := map[string]float64{}
	for i := range groups {
		groups[i] = fmt.Sprintf("%s-g%d", prefix, i)
		want[groups[i]] = float64(i%7 + 1)
		h.Set(t, groups[i], want[groups[i]])
	}

	t.Run("values follow the backend", func(t *testing.T) {
		h.await(t, src, groups, want)
		for _, g := range groups[:3] {
			want[g] += 10
			h.Set(t, g, want[g])
		}
		h.await(t, src, groups, want)
		// Down as well as up: a backlog drains.
		for _, g := range groups[:3] {
			want[g] -= 9
			h.Set(t, g, want[g])
		}
		h.await(t, src, groups, want)
	})

	t.Run("one value per read, the same for the same read", func(t *testing.T) {
		reqs := []source.Request{
			{Group: groups[0], Query: h.Query(groups[0])},
			{Group: groups[1], Query: h.Query(groups[1])},
			{Group: groups[0], Query: h.Query(groups[0])},
		}
		vals := src.Read(context.Background(), reqs)
		if len(vals) != len(reqs) {
			t.Fatalf("%d values for %d reads", len(vals), len(reqs))
		}
		if vals[0].Err != nil || vals[2].Err != nil || vals[0].V != vals[2].V {
			t.Errorf("the same read twice: %+v and %+v", vals[0], vals[2])
		}
	})

	t.Run("absent", func(t *testing.T) {
		g := prefix + "-never-set"
		v := src.Read(context.Background(), []source.Request{{Group: g, Query: h.Query(g)}})[0]
		switch h.Absent {
		case NoValue:
			if !errors.Is(v.Err, source.ErrNoValue) {
				t.Errorf("a group the backend holds nothing for: %+v; want an error wrapping ErrNoValue", v)
			}
		case Zero:
			if v.Err != nil || v.V != 0 {
				t.Errorf("a group the backend holds nothing for: %+v; want 0", v)
			}
		}
	})

	t.Run("an ended context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		reqs := make([]source.Request, len(groups))
		for i, g := range groups {
			reqs[i] = source.Request{Group: g, Query: h.Query(g)}
		}
		for i, v := range src.Read(ctx, reqs) {
			if v.Err == nil {
				t.Fatalf("read %d after its context ended: %+v; want an error", i, v)
			}
		}
	})
}

// await reads every group until each shows its wanted value, within
// Settle.
func (h Harness) await(t *testing.T, src *source.Source, groups []string, want map[string]float64) {
	t.Helper()
	reqs := make([]source.Request, len(groups))
	for i, g := range groups {
		reqs[i] = source.Request{Group: g, Query: h.Query(g)}
	}
	deadline := time.Now().Add(h.Settle)
	for attempt := 0; ; attempt++ {
		vals := src.Read(context.Background(), reqs)
		var wrong []string
		for i, v := range vals {
			if v.Err != nil || v.V != want[groups[i]] {
				wrong = append(wrong, fmt.Sprintf("%s = %v (err %v), want %v", groups[i], v.V, v.Err, want[groups[i]]))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if !time.Now().Before(deadline) || attempt > 1000 {
			t.Fatalf("%d of %d groups read wrong, e.g. %s", len(wrong), len(groups), wrong[0])
		}
		time.Sleep(h.Settle / 20) // the backend updates on its own schedule (a scrape interval)
	}
}
