package signal

import (
	"math"
	"time"
)

// Sample is one value of a signal at a time.
type Sample struct {
	T time.Time
	V float64
}

// Series keeps a signal's samples for the last Horizon. It is not safe for
// concurrent use; the engine owns one per signal that a window function reads.
type Series struct {
	Horizon time.Duration
	s       []Sample
}

// Add appends a sample. Samples not newer than the last one replace it when
// they have the same time and are ignored when older, so replays and
// duplicate pushes cannot reorder history.
func (s *Series) Add(t time.Time, v float64) {
	if n := len(s.s); n > 0 {
		last := s.s[n-1].T
		if t.Equal(last) {
			s.s[n-1].V = v
			return
		}
		if t.Before(last) {
			return
		}
	}
	// Drop samples older than the horizon, in place, before growing.
	cut := 0
	for cut < len(s.s) && t.Sub(s.s[cut].T) > s.Horizon {
		cut++
	}
	if cut > 0 {
		n := copy(s.s, s.s[cut:])
		s.s = s.s[:n]
	}
	s.s = append(s.s, Sample{T: t, V: v})
}

// Len returns how many samples are kept.
func (s *Series) Len() int { return len(s.s) }

// Last returns the newest sample.
func (s *Series) Last() (Sample, bool) {
	if len(s.s) == 0 {
		return Sample{}, false
	}
	return s.s[len(s.s)-1], true
}

// within returns the samples no older than w before now.
func (s *Series) within(now time.Time, w time.Duration) []Sample {
	i := len(s.s)
	for i > 0 && now.Sub(s.s[i-1].T) <= w {
		i--
	}
	j := len(s.s)
	for j > i && s.s[j-1].T.After(now) {
		j--
	}
	return s.s[i:j]
}

// Rate is the per-second increase of a counter over the window ending at now.
// A drop is taken as a counter reset (the new value is the increase). It
// needs two samples.
func (s *Series) Rate(now time.Time, w time.Duration) (float64, bool) {
	xs := s.within(now, w)
	if len(xs) < 2 {
		return 0, false
	}
	inc := 0.0
	for i := 1; i < len(xs); i++ {
		d := xs[i].V - xs[i-1].V
		if d < 0 {
			d = xs[i].V
		}
		inc += d
	}
	secs := xs[len(xs)-1].T.Sub(xs[0].T).Seconds()
	if secs <= 0 {
		return 0, false
	}
	return inc / secs, true
}

// Deriv is the per-second slope of a least-squares line through the window's
// samples. It needs two samples at different times.
func (s *Series) Deriv(now time.Time, w time.Duration) (float64, bool) {
	xs := s.within(now, w)
	if len(xs) < 2 {
		return 0, false
	}
	// Times relative to the first sample keep the sums well conditioned.
	t0 := xs[0].T
	var n, sx, sy, sxx, sxy float64
	for _, p := range xs {
		x := p.T.Sub(t0).Seconds()
		n++
		sx += x
		sy += p.V
		sxx += x * x
		sxy += x * p.V
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, false
	}
	slope := (n*sxy - sx*sy) / den
	if math.IsNaN(slope) || math.IsInf(slope, 0) {
		return 0, false
	}
	return slope, true
}

// Avg is the mean of the window's samples. It needs one sample.
func (s *Series) Avg(now time.Time, w time.Duration) (float64, bool) {
	xs := s.within(now, w)
	if len(xs) == 0 {
		return 0, false
	}
	sum := 0.0
	for _, p := range xs {
		sum += p.V
	}
	return sum / float64(len(xs)), true
}
