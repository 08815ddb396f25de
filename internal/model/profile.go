package model

// ProfileVersion is the layout of Profile. A remembered profile of another
// version is dropped and learned again: a forecast from data read the wrong
// way would be worse than none.
const ProfileVersion = 1

// hourNanos is one hour, in the unit of Profile's hour arithmetic.
const hourNanos = 3600e9

// Profile is a signal's recent history as hourly means: what a forecasting
// policy learns seasonality from, kept in the group's memory so that a
// restart does not forget it. It is bounded: one mean (and its sample count)
// per hour of the history it keeps, 336 for 14 days, whatever the
// evaluation interval.
//
// Hours are counted from the Unix epoch in UTC, so hour a's hour of day is
// a mod 24 and its hour of the week (from Monday 00:00) is (a + 72) mod 168.
type Profile struct {
	Version int `json:"version"`
	// Signal is the signal the profile learned; a policy reading another
	// signal starts afresh.
	Signal string `json:"signal"`
	// Hour is the hour being accumulated (hours since the epoch), Sum and
	// N its values so far.
	Hour int64   `json:"hour"`
	Sum  float64 `json:"sum"`
	N    int32   `json:"n"`
	// Means and Counts hold the closed hours before Hour, oldest first:
	// Means[k] is the mean of hour Hour−len(Means)+k over Counts[k]
	// values; a count of 0 is an hour without data.
	Means  []float64 `json:"means,omitempty"`
	Counts []int32   `json:"counts,omitempty"`
}

// HourOf returns the hour since the epoch that t (nanoseconds since the
// epoch) falls in.
func HourOf(nanos int64) int64 {
	h := nanos / hourNanos
	if nanos < 0 && nanos%hourNanos != 0 {
		h--
	}
	return h
}

// Empty reports whether the profile has learned nothing.
func (p *Profile) Empty() bool { return p.N == 0 && len(p.Means) == 0 }

// Reset starts the profile afresh for signal.
func (p *Profile) Reset(signal string) {
	*p = Profile{Version: ProfileVersion, Signal: signal, Means: p.Means[:0], Counts: p.Counts[:0]}
}

// Add records value v seen at nanos (since the epoch), keeping at most keep
// closed hours. A value older than the hour being accumulated is ignored: the
// hours before it are closed.
func (p *Profile) Add(nanos int64, v float64, keep int) {
	h := HourOf(nanos)
	switch {
	case p.N == 0 && len(p.Means) == 0:
		p.Hour = h
	case h < p.Hour:
		return
	case h > p.Hour:
		p.close(h, keep)
	}
	p.Sum += v
	p.N++
}

// close ends the hour being accumulated and moves on to hour h, recording
// the hours between them as without data.
func (p *Profile) close(h int64, keep int) {
	gap := h - p.Hour - 1
	if gap >= int64(keep) {
		// Everything kept would be older than keep hours.
		p.Means, p.Counts = p.Means[:0], p.Counts[:0]
	} else {
		var mean float64
		if p.N > 0 {
			mean = p.Sum / float64(p.N)
		}
		p.Means, p.Counts = append(p.Means, mean), append(p.Counts, p.N)
		for range gap {
			p.Means, p.Counts = append(p.Means, 0), append(p.Counts, 0)
		}
	}
	if over := len(p.Means) - keep; over > 0 {
		p.Means = p.Means[:copy(p.Means, p.Means[over:])]
		p.Counts = p.Counts[:copy(p.Counts, p.Counts[over:])]
	}
	p.Hour, p.Sum, p.N = h, 0, 0
}

// HoursWithData counts the closed hours that hold a mean.
func (p *Profile) HoursWithData() int {
	n := 0
	for _, c := range p.Counts {
		if c > 0 {
			n++
		}
	}
	return n
}

// Bucket returns the mean of the closed hours that fall in hour a's bucket
// of a season of period hours (the hours a + k × period), and how many such
// hours hold data.
func (p *Profile) Bucket(a, period int64) (mean float64, n int) {
	first := p.Hour - int64(len(p.Means))
	last := p.Hour - 1
	if last < first || period <= 0 {
		return 0, 0
	}
	// The latest hour ≤ last in a's bucket.
	h := last - mod(last-a, period)
	var sum float64
	for ; h >= first; h -= period {
		k := h - first
		if p.Counts[k] > 0 {
			sum += p.Means[k]
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// Valid reports whether the profile is of the current version and its
// slices agree: a remembered profile that is not is dropped.
func (p *Profile) Valid() bool {
	return p.Version == ProfileVersion && len(p.Means) == len(p.Counts) && p.N >= 0
}

// Clone returns a copy that shares nothing with p.
func (p *Profile) Clone() Profile {
	c := *p
	c.Means = append([]float64(nil), p.Means...)
	c.Counts = append([]int32(nil), p.Counts...)
	return c
}

// mod is the non-negative remainder of a ÷ m.
func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}
