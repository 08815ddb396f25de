package engine

import (
	"sort"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/policy"
	"github.com/ebb-autoscaler/ebb/internal/signal"
)

// Sample is a new value of a pushed signal, addressed by its index in the
// group (Group.SignalIndex).
type Sample struct {
	Signal int
	T      time.Time
	V      float64
}

// Instance is one instance's view for a tick: its readiness, when it started
// and, optionally, its own values of signals (by signal index; a nil slice or
// a missing value means it reported nothing).
type Instance struct {
	ID       string
	Ready    bool
	Launched time.Time
	Values   []policy.Value
}

// Observation is what the world looks like to the engine at one tick.
type Observation struct {
	Now time.Time
	// Ready is how many instances are serving.
	Ready int
	// Samples are values received since the previous tick.
	Samples []Sample
	// Instances, when given, supply per-instance values; a signal that any
	// instance reports takes its group value from them.
	Instances []Instance
}

// State is what the engine remembers about one group between ticks.
type State struct {
	// Desired is the group's desired capacity.
	Desired int
	// LastScale, LastUp and LastDown are when capacity last changed, grew
	// and shrank; zero if never.
	LastScale, LastUp, LastDown time.Time

	recs timeline // recommendations, for stabilization windows
	// seeded is set once recs holds the capacity the group had when the
	// engine first saw it (or a restored history), as Kubernetes records
	// the current replica count as an HPA's first recommendation.
	seeded     bool
	events     timeline // capacity changes (signed), for rate limits
	upPoints   model.Datapoints
	downPoints model.Datapoints
	memories   []model.Datapoints // one per policy
	profiles   []*model.Profile   // one per policy, nil but for forecasters; nil when none is
	pending    *ScaleOut          // a scale-out awaiting its effectiveness judgement
	blocked    *ScaleOut          // a scale-out judged ineffective, blocking scale-out
	last       []lastSample       // one per signal
	series     []*signal.Series   // one per signal; nil when no history is kept

	// Scratch space reused every tick so evaluation does not allocate.
	values  []policy.Value
	perInst [][]policy.InstanceValue
	subst   []bool
	missing []string // why a signal is missing, for explanations
	ready   int      // this tick's serving instances, for expressions
	env     env
	added   func(time.Time) int // AddedSince for policies, bound once
}

type timedValue struct {
	t time.Time
	v int
}

type lastSample struct {
	t  time.Time
	v  float64
	ok bool
}

// NewState returns the memory of a group that has never been evaluated.
func NewState(g *Group) *State {
	n := len(g.signals)
	st := &State{
		Desired:  min(max(g.Initial, g.Min), g.Max),
		memories: make([]model.Datapoints, len(g.policies)),
		last:     make([]lastSample, n),
		series:   make([]*signal.Series, n),
		values:   make([]policy.Value, n),
		perInst:  make([][]policy.InstanceValue, n),
		subst:    make([]bool, n),
		missing:  make([]string, n),
	}
	if g.forecast != nil {
		st.profiles = make([]*model.Profile, len(g.policies))
		for i, fc := range g.forecast {
			if fc {
				st.profiles[i] = &model.Profile{Version: model.ProfileVersion}
			}
		}
	}
	for i, s := range g.signals {
		if s.horizon > 0 {
			st.series[i] = &signal.Series{Horizon: s.horizon}
		}
	}
	st.env = env{g: g, st: st}
	st.added = st.addedSince
	return st
}

// addedSince sums the scale-outs committed after t.
func (st *State) addedSince(t time.Time) int {
	n := 0
	for _, e := range st.events.all() {
		if e.v > 0 && e.t.After(t) {
			n += e.v
		}
	}
	return n
}

// env lets expressions read the current tick's values.
type env struct {
	g  *Group
	st *State
}

func (e env) Value(name string) (float64, bool) {
	if name == signal.Ready {
		return float64(e.st.ready), true
	}
	i, ok := e.g.index[name]
	if !ok || !e.st.values[i].OK {
		return 0, false
	}
	return e.st.values[i].V, true
}

func (e env) Series(name string) *signal.Series {
	i, ok := e.g.index[name]
	if !ok {
		return nil
	}
	return e.st.series[i]
}

// timeline is a list of timed values, in the order they were added, that
// drops its oldest from the front. Dropping moves nothing: the list moves
// back to the start of its buffer only once it reaches the end, and the
// buffer keeps room for as many again, so a window that gains a value and
// loses one every tick moves its values now and then, not every tick.
//
// A timeline knows when its times only go forward and all have a
// monotonic clock reading or none (comparisons then follow one order):
// the values after a time are then a suffix, found by a binary search.
type timeline struct {
	buf []timedValue // the list is buf[lo:]
	lo  int
	// sorted: the times never go back and mono says for all of them
	// whether they carry a monotonic clock reading.
	sorted, mono bool
}

// all is the list, oldest first; valid until the next add.
func (l *timeline) all() []timedValue { return l.buf[l.lo:] }

func (l *timeline) reset() { l.buf, l.lo, l.sorted = l.buf[:0], 0, true }

func (l *timeline) add(x timedValue) {
	if m := hasMono(x.t); l.lo == len(l.buf) {
		l.sorted, l.mono = true, m
	} else if l.sorted {
		l.sorted = m == l.mono && !x.t.Before(l.buf[len(l.buf)-1].t)
	}
	if len(l.buf) == cap(l.buf) && l.lo > 0 {
		live := l.buf[l.lo:]
		dst := l.buf
		if 2*len(live) > cap(l.buf) {
			dst = make([]timedValue, 2*len(live)+1)
		}
		n := copy(dst, live)
		clear(dst[n:]) // drops what the moved values left behind
		l.buf, l.lo = dst[:n], 0
	}
	l.buf = append(l.buf, x)
}

// trim drops the values at the front older than keep before now.
func (l *timeline) trim(now time.Time, keep time.Duration) {
	for start := now.Add(-keep); l.lo < len(l.buf) && l.buf[l.lo].t.Before(start); l.lo++ {
	}
	if l.lo == len(l.buf) {
		l.reset()
	}
}

// minAfter is the least of v and the values added after start.
func (l *timeline) minAfter(start time.Time, v int) int { return l.extremeAfter(start, v, false) }

// maxAfter is the greatest of v and the values added after start.
func (l *timeline) maxAfter(start time.Time, v int) int { return l.extremeAfter(start, v, true) }

// extremeAfter is the greatest (or least) of v and the values added after
// start.
func (l *timeline) extremeAfter(start time.Time, v int, greatest bool) int {
	xs, all := l.after(start)
	for _, x := range xs {
		if !all && !x.t.After(start) {
			continue
		}
		if greatest {
			v = max(v, x.v)
		} else {
			v = min(v, x.v)
		}
	}
	return v
}

// after returns the values added after start, all true, when the
// timeline is sorted in start's clock; otherwise the whole list, all
// false, for the caller to compare each time.
func (l *timeline) after(start time.Time) (xs []timedValue, all bool) {
	xs = l.all()
	if !l.sorted || hasMono(start) != l.mono {
		return xs, false
	}
	return xs[sort.Search(len(xs), func(i int) bool { return xs[i].t.After(start) }):], true
}

// hasMono reports whether t carries a monotonic clock reading: Round(0)
// strips it and changes nothing else.
func hasMono(t time.Time) bool { return t != t.Round(0) }
