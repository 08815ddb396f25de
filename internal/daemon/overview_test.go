package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// overviewRows names a page's rows.
func overviewRows(p OverviewPage) []string {
	var out []string
	for _, r := range p.Rows {
		out = append(out, r.Name)
	}
	return out
}

func TestOverviewFiltersSortsAndPages(t *testing.T) {
	var groups strings.Builder
	for i := range 12 {
		groups.WriteString(groupYAML(fmt.Sprintf("web-%02d", i), 50))
	}
	groups.WriteString(groupYAML("batch", 50))
	h := newHarness(t, groups.String(), Options{})
	// Queue lengths give each web group a different desired count.
	for i := range 12 {
		name := fmt.Sprintf("web-%02d", i)
		if err := h.d.Push(name, h.clock.Now(), map[string]float64{"queue": float64(10 * (i%4 + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	h.decide("web-11", time.Second)

	tests := []struct {
		name      string
		q         OverviewQuery
		rows      []string
		matched   int
		pages     int
		wantError bool
	}{
		{name: "first page by name", q: OverviewQuery{Page: 1, Limit: 5},
			rows: []string{"batch", "web-00", "web-01", "web-02", "web-03"}, matched: 13, pages: 3},
		{name: "last page", q: OverviewQuery{Page: 3, Limit: 5}, rows: []string{"web-09", "web-10", "web-11"}, matched: 13, pages: 3},
		{name: "past the end is empty", q: OverviewQuery{Page: 9, Limit: 5}, matched: 13, pages: 3},
		{name: "filter ignores case", q: OverviewQuery{Filter: "WEB-1", Page: 1, Limit: 5}, rows: []string{"web-10", "web-11"}, matched: 2, pages: 1},
		{name: "desired, most first, ties by name", q: OverviewQuery{Sort: "-desired", Page: 1, Limit: 4},
			rows: []string{"web-03", "web-07", "web-11", "web-02"}, matched: 13, pages: 4},
		{name: "name, descending", q: OverviewQuery{Sort: "-name", Page: 1, Limit: 2}, rows: []string{"web-11", "web-10"}, matched: 13, pages: 7},
		{name: "bad sort", q: OverviewQuery{Sort: "zone", Page: 1, Limit: 5}, wantError: true},
		{name: "limit too large", q: OverviewQuery{Page: 1, Limit: MaxOverviewLimit + 1}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := h.d.Overview(tt.q)
			if tt.wantError {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rows, overviewRows(p)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if p.Matched != tt.matched || p.Pages != tt.pages || p.Groups != 13 {
				t.Errorf("matched %d of %d in %d pages, want %d of 13 in %d", p.Matched, p.Groups, p.Pages, tt.matched, tt.pages)
			}
		})
	}

	// A row carries the last decision's inputs.
	p, err := h.d.Overview(OverviewQuery{Filter: "web-03", Page: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Rows[0]; len(r.Signals) != 1 || r.Signals[0].Name != "queue" || r.Signals[0].Value != 40 || r.Decision == nil {
		t.Errorf("row = %+v, want queue=40 and a decision", r)
	}
	// Only groups with conditions: batch has had no value pushed.
	p, err = h.d.Overview(OverviewQuery{Only: OnlyConditions, Page: 1, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"batch"}, overviewRows(p)); diff != "" {
		t.Errorf("groups with conditions (-want +got):\n%s", diff)
	}
}

func TestChangesReportsWhatMoved(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10)+groupYAML("batch", 10), Options{})
	start, _ := h.d.Changes(^uint64(0))

	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 30})
	h.decide("web", time.Second)
	ch, wait := h.d.Changes(start.Seq)
	if ch.All || ch.Seq <= start.Seq {
		t.Fatalf("changes = %+v after %d", ch, start.Seq)
	}
	if diff := cmp.Diff([]string{"batch", "web"}, ch.Groups); diff != "" {
		t.Errorf("first decisions change both groups (-want +got):\n%s", diff)
	}
	select {
	case <-wait:
		t.Fatal("the wait channel is closed before any further change")
	default:
	}

	// A hold with the same inputs is no news (the first hold is: the
	// current capacity moved up to desired); a new value is.
	for range 2 {
		h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 30})
		h.decide("web", 10*time.Second)
	}
	ch, wait = h.d.Changes(ch.Seq)
	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 30})
	h.decide("web", 10*time.Second)
	again, _ := h.d.Changes(ch.Seq)
	if len(again.Groups) != 0 {
		t.Errorf("a repeated hold changed %v", again.Groups)
	}
	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 50})
	h.decide("web", 10*time.Second)
	select {
	case <-wait:
	default:
		t.Fatal("a change did not close the wait channel")
	}
	got, _ := h.d.Changes(ch.Seq)
	if diff := cmp.Diff([]string{"web"}, got.Groups); diff != "" {
		t.Errorf("a new value (-want +got):\n%s", diff)
	}
	// An operator's action is a change.
	if _, err := h.d.Scale("batch", 4); err != nil {
		t.Fatal(err)
	}
	if got2, _ := h.d.Changes(got.Seq); !cmp.Equal(got2.Groups, []string{"batch"}) {
		t.Errorf("after a scale: %+v", got2)
	}
}

func TestHistoryCapacityAndSignals(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10), Options{})
	begin := h.clock.Now()
	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 30})
	h.decide("web", time.Second)
	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 60})
	h.decide("web", 10*time.Second)

	hist, err := h.d.History("web", begin)
	if err != nil {
		t.Fatal(err)
	}
	var desired []int
	for _, p := range hist.Capacity {
		desired = append(desired, p.Desired)
	}
	now, _ := h.d.Group("web")
	// 3, then more as decided, and the point at now.
	if diff := cmp.Diff([]int{3, now.Desired, now.Desired}, desired); diff != "" || now.Desired <= 3 {
		t.Errorf("desired over time (-want +got):\n%s", diff)
	}
	if len(hist.Signals) != 1 || hist.Signals[0].Name != "queue" {
		t.Fatalf("signals = %+v", hist.Signals)
	}
	s := hist.Signals[0].Samples
	if len(s) == 0 || s[len(s)-1].V != 60 {
		t.Errorf("queue samples %+v: want the latest decision's 60 last", s)
	}
	// A later since starts the capacity at the point in force then.
	later, err := h.d.History("web", h.clock.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if later.Capacity[0].Desired != 3 || !later.Capacity[0].T.Equal(later.Since) || len(later.Capacity) != 3 {
		t.Errorf("capacity %+v, want desired 3 at since, then the change and now", later.Capacity)
	}
	if _, err := h.d.History("nope", begin); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: err = %v", err)
	}
}

// A guard holding back a scale-out is a condition, with the guard's reason.
func TestGuardHoldingIsACondition(t *testing.T) {
	h := newHarness(t, `
  - name: web
    capacity: {min: 1, max: 20}
    interval: 10s
    signals:
      queue: {stale: 1m}
      throttle: {stale: 1m}
    policies:
      - queue: {signal: queue, per_instance: 10}
    guards:
      - {signal: throttle, above: 5}
`, Options{})
	h.d.Push("web", h.clock.Now(), map[string]float64{"queue": 100, "throttle": 9})
	h.decide("web", time.Second)
	v, err := h.d.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	want := "scale-out held by a guard at the last decision: guard throttle 9 > 5 freezes scale-out at 1"
	if !cmp.Equal(v.Conditions, []string{want}) {
		t.Errorf("conditions %q, want %q", v.Conditions, want)
	}
}
