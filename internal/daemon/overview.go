package daemon

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// OverviewQuery asks for one page of the groups' summary rows.
type OverviewQuery struct {
	// Filter keeps the groups whose name contains it, ignoring case.
	Filter string
	// Only narrows the rows: OnlyAll, or OnlyConditions for the groups
	// with something wrong.
	Only Only
	// Sort is a key (name, desired, ready, conditions, decided), with a
	// leading "-" for descending; ties are broken by name.
	Sort string
	// Page counts from 1; Limit rows per page (1 to MaxOverviewLimit).
	Page, Limit int
}

// Only narrows an overview.
type Only int

// Overview filters.
const (
	OnlyAll Only = iota
	OnlyConditions
)

// MaxOverviewLimit bounds an overview page.
const MaxOverviewLimit = 1000

// overviewSorts are the keys an overview sorts by.
var overviewSorts = map[string]func(a, b *OverviewRow) int{
	"name":       func(a, b *OverviewRow) int { return strings.Compare(a.Name, b.Name) },
	"desired":    func(a, b *OverviewRow) int { return cmp.Compare(a.Desired, b.Desired) },
	"ready":      func(a, b *OverviewRow) int { return cmp.Compare(readyOf(a), readyOf(b)) },
	"conditions": func(a, b *OverviewRow) int { return cmp.Compare(len(a.Conditions), len(b.Conditions)) },
	"decided":    func(a, b *OverviewRow) int { return decidedOf(a).Compare(decidedOf(b)) },
}

func readyOf(r *OverviewRow) int {
	if r.Fleet == nil {
		return 0
	}
	return r.Fleet.InService
}

func decidedOf(r *OverviewRow) time.Time {
	if r.Decision == nil {
		return time.Time{}
	}
	return r.Decision.Time
}

// ValidateSort checks an overview sort key.
func ValidateSort(key string) error {
	if _, ok := overviewSorts[strings.TrimPrefix(key, "-")]; !ok {
		return fmt.Errorf("sort %q: must be name, desired, ready, conditions or decided, optionally with a leading '-': %w", key, ErrInvalid)
	}
	return nil
}

// OverviewRow is one group in the overview: GroupView's summary with the
// last decision's inputs, so a signal's value shows without a second call.
type OverviewRow struct {
	GroupView
	Signals []model.SignalValue `json:"signals,omitempty"`
}

// OverviewPage is one page of overview rows, with the counts a pager needs.
type OverviewPage struct {
	Groups  int           `json:"groups"`  // every group
	Matched int           `json:"matched"` // those the filter kept
	Page    int           `json:"page"`
	Pages   int           `json:"pages"`
	Limit   int           `json:"limit"`
	Rows    []OverviewRow `json:"rows"`
	// Seq is the change sequence the page reflects: an event stream opened
	// with it reports only what changed after the page was read.
	Seq uint64 `json:"seq"`
}

// Overview answers one page of groups, filtered and sorted here rather
// than in the browser, so a page with thousands of groups stays one small
// request. Rows are built from memory; only the page's rows read the store
// (for their suspensions).
func (d *Daemon) Overview(q OverviewQuery) (OverviewPage, error) {
	if q.Sort == "" {
		q.Sort = "name"
	}
	if err := ValidateSort(q.Sort); err != nil {
		return OverviewPage{}, err
	}
	if q.Limit < 1 || q.Limit > MaxOverviewLimit || q.Page < 1 {
		return OverviewPage{}, fmt.Errorf("page %d, limit %d: page must be ≥ 1 and limit from 1 to %d: %w", q.Page, q.Limit, MaxOverviewLimit, ErrInvalid)
	}
	// The sequence is read first: a change racing this read is then
	// reported again rather than missed.
	ch, _ := d.changed.since(^uint64(0))
	d.mu.Lock()
	now := d.opt.Clock.Now()
	filter := strings.ToLower(q.Filter)
	rows := make([]OverviewRow, 0, len(d.cfg.Groups))
	for _, gc := range d.cfg.Groups {
		if filter != "" && !strings.Contains(strings.ToLower(gc.Name), filter) {
			continue
		}
		r := d.row(gc.Name, now)
		if q.Only == OnlyConditions && len(r.Conditions) == 0 {
			continue
		}
		rows = append(rows, r)
	}
	total := len(d.cfg.Groups)
	d.mu.Unlock()

	by := overviewSorts[strings.TrimPrefix(q.Sort, "-")]
	desc := strings.HasPrefix(q.Sort, "-")
	slices.SortStableFunc(rows, func(a, b OverviewRow) int {
		c := by(&a, &b)
		if desc {
			c = -c
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name) // ascending either way
		}
		return c
	})
	p := OverviewPage{Groups: total, Matched: len(rows), Page: q.Page, Limit: q.Limit, Seq: ch.Seq}
	p.Pages = max(1, (len(rows)+q.Limit-1)/q.Limit)
	lo := min(len(rows), (q.Page-1)*q.Limit)
	p.Rows = rows[lo:min(len(rows), lo+q.Limit)]
	err := d.st.View(func(tx *store.Tx) error {
		for i := range p.Rows {
			gs, _, err := tx.GroupState(p.Rows[i].Name)
			if err != nil {
				return err
			}
			p.Rows[i].Suspended = gs.Suspended
		}
		return nil
	})
	return p, err
}

// row is a group's overview row without its suspension (which is in the
// store). d.mu held.
func (d *Daemon) row(name string, now time.Time) OverviewRow {
	g := d.groups[name]
	eg := d.eng.Groups[g.index]
	r := OverviewRow{GroupView: GroupView{Name: name, Min: eg.Min, Max: eg.Max, Desired: d.eng.States[g.index].Desired}}
	if g.rec != nil {
		st := g.status
		r.Fleet = &st
	}
	if dec, ok := d.last[name]; ok {
		r.Decision = brief(dec)
		r.Signals = dec.Inputs
	}
	r.Conditions = d.conditions(name, now)
	return r
}

// History is a group's recent past for the dashboard's charts.
type History struct {
	Group string    `json:"group"`
	Since time.Time `json:"since"`
	Now   time.Time `json:"now"`
	// Capacity holds a point at every change since this ebb started (it is
	// kept in memory, capacityKeep points per group), then one at Now.
	Capacity []CapacityPoint `json:"capacity"`
	// Signals are the group's signals, sorted by name, with their stored
	// samples and, last, the value of the latest decision.
	Signals []SignalHistory `json:"signals"`
}

// SignalHistory is one signal's samples and the target its policies hold
// it at, if one does.
type SignalHistory struct {
	Name    string   `json:"name"`
	Target  *float64 `json:"target,omitempty"`
	Samples []Point  `json:"samples"`
}

// Point is a signal's value at a time.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// History returns the group's capacity and signals since since.
func (d *Daemon) History(group string, since time.Time) (History, error) {
	d.mu.Lock()
	g, ok := d.groups[group]
	if !ok {
		d.mu.Unlock()
		return History{}, fmt.Errorf("group %q: %w", group, ErrNotFound)
	}
	now := d.opt.Clock.Now()
	h := History{Group: group, Since: since, Now: now}
	kept := d.capacity[group]
	// The points after since, led by the one in force at since, moved to
	// since.
	from := sort.Search(len(kept), func(i int) bool { return kept[i].T.After(since) })
	if from > 0 {
		p := kept[from-1]
		p.T = since
		h.Capacity = append(h.Capacity, p)
	}
	h.Capacity = append(h.Capacity, kept[from:]...)
	h.Capacity = append(h.Capacity, capacityOf(g, d.eng.States[g.index].Desired, now))
	targets := targetsOf(g)
	latest := map[string]Point{}
	if dec, ok := d.last[group]; ok {
		for _, in := range dec.Inputs {
			if !in.Missing {
				latest[in.Name] = Point{T: dec.Time, V: in.Value}
			}
		}
	}
	names := sortedKeys(g.cfg.Signals)
	d.mu.Unlock()

	err := d.st.View(func(tx *store.Tx) error {
		for _, name := range names {
			kept, err := tx.Samples(group, name, since)
			if err != nil {
				return err
			}
			s := make([]Point, len(kept), len(kept)+1)
			for i, k := range kept {
				s[i] = Point{T: k.T, V: k.V}
			}
			// The store keeps a sample every 90 s or so; the latest
			// decision's value makes the chart end at what ebb sees now.
			if l, ok := latest[name]; ok && !l.T.Before(since) && (len(s) == 0 || l.T.After(s[len(s)-1].T)) {
				s = append(s, l)
			}
			sh := SignalHistory{Name: name, Samples: s}
			if t, ok := targets[name]; ok {
				sh.Target = &t
			}
			h.Signals = append(h.Signals, sh)
		}
		return nil
	})
	return h, err
}

// targetsOf maps each signal a target policy tracks to the value it holds
// the signal at; other policies size by rules, not a single target.
func targetsOf(g *group) map[string]float64 {
	out := map[string]float64{}
	for _, p := range g.cfg.Policies {
		if p.Target != nil {
			out[p.Target.Signal] = p.Target.Value
		}
	}
	return out
}
