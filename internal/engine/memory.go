package engine

import (
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// TimedValue is a number at a time, as kept in Memory.
type TimedValue struct {
	T time.Time `json:"t"`
	V int       `json:"v"`
}

// Memory is what a group's State must carry across a restart of ebb so
// that windows, limits and cooldowns go on as if nothing happened. Signal
// values are not in it: they go stale anyway and are read afresh.
type Memory struct {
	Desired    int                `json:"desired"`
	LastScale  time.Time          `json:"last_scale,omitzero"`
	LastUp     time.Time          `json:"last_up,omitzero"`
	LastDown   time.Time          `json:"last_down,omitzero"`
	Recs       []TimedValue       `json:"recs,omitempty"`
	Events     []TimedValue       `json:"events,omitempty"`
	UpPoints   model.Datapoints   `json:"up_points"`
	DownPoints model.Datapoints   `json:"down_points"`
	Policies   []model.Datapoints `json:"policies,omitempty"`
	// Profiles holds each forecasting policy's learned history, by policy
	// index (null for the others); absent when the group has none. About
	// 12 bytes per hour of history: 4 KiB for 14 days.
	Profiles []*model.Profile `json:"profiles,omitempty"`
	// Pending is a scale-out awaiting its effectiveness judgement, Blocked
	// one judged ineffective that still blocks scale-out
	// (behavior.up.effectiveness); absent when there is none, as in memory
	// saved before ebb judged scale-outs.
	Pending *ScaleOut `json:"pending_scale_out,omitempty"`
	Blocked *ScaleOut `json:"blocked_scale_out,omitempty"`
}

// Memory returns a copy of what the state remembers.
func (st *State) Memory() Memory {
	m := Memory{
		Desired: st.Desired, LastScale: st.LastScale, LastUp: st.LastUp, LastDown: st.LastDown,
		UpPoints: st.upPoints, DownPoints: st.downPoints,
		Policies: append([]model.Datapoints(nil), st.memories...),
		Pending:  cloneScaleOut(st.pending), Blocked: cloneScaleOut(st.blocked),
	}
	for i, p := range st.profiles {
		if p == nil {
			continue
		}
		if m.Profiles == nil {
			m.Profiles = make([]*model.Profile, len(st.profiles))
		}
		c := p.Clone()
		m.Profiles[i] = &c
	}
	for _, r := range st.recs.all() {
		m.Recs = append(m.Recs, TimedValue{T: r.t, V: r.v})
	}
	for _, e := range st.events.all() {
		m.Events = append(m.Events, TimedValue{T: e.t, V: e.v})
	}
	return m
}

// Restore puts remembered memory back into a fresh state. Desired is
// clamped to the group's bounds (the config may have changed); policy
// memories are kept only if the group still has as many policies; a
// forecasting policy's profile only if it is of the current version (a
// policy that now reads another signal starts its profile afresh); a
// scale-out's judgement only if the group still judges by the same signal.
func (g *Group) Restore(st *State, m Memory) {
	st.Desired = min(max(m.Desired, g.Min), g.Max)
	g.restoreEffect(st, m.Pending, m.Blocked)
	st.LastScale, st.LastUp, st.LastDown = m.LastScale, m.LastUp, m.LastDown
	st.upPoints, st.downPoints = m.UpPoints, m.DownPoints
	if len(m.Policies) == len(st.memories) {
		copy(st.memories, m.Policies)
	}
	if len(m.Profiles) == len(st.profiles) {
		for i, p := range m.Profiles {
			if st.profiles[i] != nil && p != nil && p.Valid() {
				*st.profiles[i] = p.Clone()
			}
		}
	}
	st.recs.reset()
	st.seeded = true // the history goes on
	for _, r := range m.Recs {
		st.recs.add(timedValue{t: r.T, v: r.V})
	}
	st.events.reset()
	for _, e := range m.Events {
		st.events.add(timedValue{t: e.T, v: e.V})
	}
}

// SetDesired sets capacity by hand (an operator's scale command), within
// the group's bounds. The next evaluation starts from it; stabilization,
// rate limits and cooldowns go on from their history. A change from outside
// the decisions ends the judgement of scale-outs: the one awaiting it is
// forgotten and a block is lifted (someone else has decided).
func (g *Group) SetDesired(st *State, now time.Time, n int) int {
	n = min(max(n, g.Min), g.Max)
	if n != st.Desired {
		st.pending, st.blocked = nil, nil
		st.LastScale = now
		if n > st.Desired {
			st.LastUp = now
		} else {
			st.LastDown = now
		}
	}
	st.Desired = n
	return n
}
