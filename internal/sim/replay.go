package sim

import (
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Row is one line of a replay's timeline: a group's state after a tick.
type Row struct {
	T         float64         `json:"t"`
	Group     string          `json:"group"`
	Desired   int             `json:"desired"`
	Ready     int             `json:"ready"`
	Direction model.Direction `json:"direction"`
	Reason    string          `json:"reason"`
}

// GroupSummary totals one group's replay.
type GroupSummary struct {
	ScaleOuts  int `json:"scale_outs"`
	ScaleIns   int `json:"scale_ins"`
	MinDesired int `json:"min_desired"`
	MaxDesired int `json:"max_desired"`
	// InstanceSeconds counts every instance from launch to removal, booting
	// or not: what the group costs.
	InstanceSeconds float64 `json:"instance_seconds"`
	// ReadySeconds counts instances only while ready.
	ReadySeconds float64 `json:"ready_seconds"`
	// MissingTicks counts ticks where some input signal was missing.
	MissingTicks int `json:"missing_ticks"`
}

// Summary totals a replay.
type Summary struct {
	Start     time.Time               `json:"start"`
	Seconds   float64                 `json:"seconds"`
	Ticks     int                     `json:"ticks"`
	Decisions int                     `json:"decisions"`
	Groups    map[string]GroupSummary `json:"groups"`
}

// Result is a replay's outcome: totals, and the timeline rows where something
// changed plus each group's last row.
type Result struct {
	Summary  Summary `json:"summary"`
	Timeline []Row   `json:"timeline"`
}

// fleet is the simulated instances of one group: launch times, in order.
// Scale-in removes instances still booting first, newest first, then the
// newest ready ones.
type fleet struct {
	launched []time.Time
	boot     time.Duration
}

func (f *fleet) ready(now time.Time) int {
	n := 0
	for _, t := range f.launched {
		if !now.Before(t.Add(f.boot)) {
			n++
		}
	}
	return n
}

func (f *fleet) resize(now time.Time, n int) {
	for len(f.launched) < n {
		f.launched = append(f.launched, now)
	}
	if len(f.launched) > n {
		f.launched = f.launched[:n] // launch times ascend: the newest go first
	}
}

// Options tune a replay.
type Options struct {
	// Start is the virtual time of t = 0; schedules read it.
	Start time.Time
	// OnDecision, if set, sees every decision as it is made.
	OnDecision func(*model.Decision)
}

// ReplaySignals runs the signals through the engine, one tick per the
// smallest group interval, from the first row's t to the last's. A row's
// values hold until the next row; an empty cell sends no value, so the signal
// goes stale after its stale time.
func ReplaySignals(eng *engine.Engine, s *Signals, opt Options) Result {
	start := opt.Start
	step := eng.Groups[0].Interval
	for _, g := range eng.Groups {
		step = min(step, g.Interval)
	}
	fleets := make([]fleet, len(eng.Groups))
	res := Result{Summary: Summary{Start: start, Groups: map[string]GroupSummary{}}}
	sums := make([]GroupSummary, len(eng.Groups))
	last := make([]Row, len(eng.Groups))
	emitted := make([]bool, len(eng.Groups))
	samples := make([][]engine.Sample, len(eng.Groups))
	for i, g := range eng.Groups {
		fleets[i] = fleet{boot: g.Boot}
		fleets[i].resize(start.Add(-g.Boot), eng.States[i].Desired) // the initial fleet is ready
		sums[i] = GroupSummary{MinDesired: math.MaxInt, MaxDesired: 0}
	}

	t0, t1 := s.T[0], s.T[len(s.T)-1]
	row := 0
	prev := start.Add(secs(t0))
	for k := 0; ; k++ {
		t := t0 + float64(k)*step.Seconds()
		if t > t1+1e-9 {
			break
		}
		now := start.Add(secs(t))
		for row+1 < len(s.T) && s.T[row+1] <= t+1e-9 {
			row++
		}
		for i := range samples {
			samples[i] = samples[i][:0]
		}
		for j, c := range s.columns {
			if v := s.cells[row][j]; !math.IsNaN(v) {
				samples[c.group] = append(samples[c.group], engine.Sample{Signal: c.signal, T: now, V: v})
			}
		}
		// Account for the interval since the last tick at the old sizes.
		dt := now.Sub(prev).Seconds()
		for i := range fleets {
			sums[i].InstanceSeconds += dt * float64(len(fleets[i].launched))
			sums[i].ReadySeconds += dt * float64(fleets[i].ready(prev))
		}
		prev = now

		decisions := eng.Step(now, func(i int) engine.Observation {
			return engine.Observation{Ready: fleets[i].ready(now), Samples: samples[i]}
		})
		res.Summary.Ticks++
		res.Summary.Decisions += len(decisions)
		for _, d := range decisions {
			if opt.OnDecision != nil {
				opt.OnDecision(d)
			}
			gi := groupIndex(eng, d.Group)
			fleets[gi].resize(now, d.Desired)
			sum := &sums[gi]
			switch d.Direction {
			case model.Up:
				sum.ScaleOuts++
			case model.Down:
				sum.ScaleIns++
			}
			for _, in := range d.Inputs {
				if in.Missing {
					sum.MissingTicks++
					break
				}
			}
			last[gi].Reason = d.Reason()
			last[gi].Direction = d.Direction
		}
		for gi, g := range eng.Groups {
			r := Row{T: t, Group: g.Name, Desired: eng.States[gi].Desired, Ready: fleets[gi].ready(now),
				Direction: last[gi].Direction, Reason: last[gi].Reason}
			sums[gi].MinDesired = min(sums[gi].MinDesired, r.Desired)
			sums[gi].MaxDesired = max(sums[gi].MaxDesired, r.Desired)
			changed := !emitted[gi] || r.Desired != last[gi].Desired || r.Ready != last[gi].Ready
			if changed {
				res.Timeline = append(res.Timeline, r)
				emitted[gi] = true
			}
			r.Direction = model.Hold
			last[gi] = r
		}
		res.Summary.Seconds = t - t0
	}
	// Each group's last row, unless it was just emitted.
	for gi := range eng.Groups {
		if n := len(res.Timeline); n > 0 && lastRowOf(res.Timeline, eng.Groups[gi].Name).T == last[gi].T {
			continue
		}
		res.Timeline = append(res.Timeline, last[gi])
	}
	for gi, g := range eng.Groups {
		res.Summary.Groups[g.Name] = sums[gi]
	}
	return res
}

func lastRowOf(rows []Row, group string) Row {
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Group == group {
			return rows[i]
		}
	}
	return Row{T: math.NaN()}
}

func groupIndex(eng *engine.Engine, name string) int {
	for i, g := range eng.Groups {
		if g.Name == name {
			return i
		}
	}
	return -1
}

func secs(t float64) time.Duration { return time.Duration(math.Round(t * float64(time.Second))) }
