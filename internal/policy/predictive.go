package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Forecaster is a policy that sizes the group for a forecast rather than
// for what it measures now. It learns its signal into Input.Profile, which
// the engine keeps in the group's memory. The engine never lets a forecast
// alone scale the group in (see engine.combine).
type Forecaster interface {
	// Lead is how far ahead of now the forecast looks.
	Lead() time.Duration
}

// Seasons, in hours.
const (
	dailyHours  = 24
	weeklyHours = 7 * 24
)

// predictive forecasts its signal lead ahead of now from the mean of the
// same hour of the season over the history kept, and sizes the group for it:
// desired = ceil(forecast ÷ per_instance).
//
// The profile holds hourly means. The mean of bucket b is the average, with
// equal weight per day (or week), of the hourly means of the hours in b over
// the history; the forecast at time T is the linear interpolation between
// the means of the two buckets whose centres (the half hours) enclose T.
type predictive struct {
	name        string
	signal      string
	index       int
	perInstance float64
	period      int64 // the season, in hours
	lead        time.Duration
	keep        int // closed hours kept: the history
	minHours    int // hours with data before the first forecast
	why         predictiveReasons
}

// predictiveReasons are the policy's Reason formats, filled in at build time.
type predictiveReasons struct {
	young, gap, size, sizeDaily, sizeFallback string
}

func newPredictive(name string, c config.Predictive, index func(string) int) (*predictive, error) {
	i, err := lookup(index, c.Signal)
	if err != nil {
		return nil, err
	}
	if !finite(c.PerInstance) || c.PerInstance <= 0 {
		return nil, fmt.Errorf("per_instance %s: must be a number > 0", num(c.PerInstance))
	}
	var period int64
	switch c.Season {
	case "weekly", "":
		period = weeklyHours
	case "daily":
		period = dailyHours
	default:
		return nil, fmt.Errorf("unknown season %q: want weekly or daily", c.Season)
	}
	if c.Lead == nil {
		return nil, errors.New("no lead set (the engine defaults it to the group's boot time)")
	}
	lead := c.Lead.D()
	if lead < 0 {
		return nil, fmt.Errorf("lead %s: must be ≥ 0", c.Lead)
	}
	keep := int(c.History.D() / time.Hour)
	if keep < int(period) {
		return nil, fmt.Errorf("history %s: must be at least one season (%dh)", c.History, period)
	}
	if c.MinHistory < 0 {
		return nil, fmt.Errorf("min_history %s: must be ≥ 0", c.MinHistory)
	}
	minHours := int((c.MinHistory.D() + time.Hour - 1) / time.Hour)
	f := func(s string) string {
		return fill(s, "{signal}", c.Signal, "{per}", num(c.PerInstance),
			"{lead}", model.FormatDuration(lead), "{min}", c.MinHistory.String())
	}
	return &predictive{
		name:        name,
		signal:      c.Signal,
		index:       i,
		perInstance: c.PerInstance,
		period:      period,
		lead:        lead,
		keep:        keep,
		minHours:    minHours,
		why: predictiveReasons{
			young:     f("{signal}: %v of history, a forecast needs {min}: no forecast yet"),
			gap:       f("{signal}: no history for %v or the hour next to it: no forecast"),
			size:      f("forecast of {signal} at %v (lead {lead}): %v from the last %v weeks of %v: ceil(%v / {per}) = %v"),
			sizeDaily: f("forecast of {signal} at %v (lead {lead}): %v from the last %v days of %v: ceil(%v / {per}) = %v"),
			sizeFallback: f("forecast of {signal} at %v (lead {lead}): %v from the last %v days of %v " +
				"(daily until a week of history): ceil(%v / {per}) = %v"),
		},
	}, nil
}

func (p *predictive) Name() string        { return p.name }
func (p *predictive) Lead() time.Duration { return p.lead }

// Signals is empty: the forecast comes from the profile, not from the
// signal's current value, so a missing value is not a reason for the
// engine's missing-data mode. The policy learns the value when it is there.
func (p *predictive) Signals() []int { return nil }

func (p *predictive) Evaluate(in Input) (model.Recommendation, error) {
	prof := in.Profile
	if prof == nil {
		return model.Recommendation{}, errors.New("no profile to learn into")
	}
	if prof.Version != model.ProfileVersion || prof.Signal != p.signal {
		prof.Reset(p.signal)
	}
	// Learn first: this tick's value belongs to the history of later
	// forecasts. A substituted value (treat_as) is not the signal's.
	if v := in.Value(p.index); v.OK && !v.Substituted && finite(v.V) {
		prof.Add(in.Now.UnixNano(), v.V, p.keep)
	}
	if have := prof.HoursWithData(); have < p.minHours || have == 0 {
		return abstain(model.Because(p.why.young, model.Dur(time.Duration(have)*time.Hour))), nil
	}

	at := in.Now.Add(p.lead).UTC()
	fc, ok := p.forecast(prof, at)
	if !ok {
		return abstain(model.Because(p.why.gap, model.Str(at.Format("Mon 15:00")))), nil
	}
	desired := ceilCount(fc.value / p.perInstance)
	format := p.why.size
	switch {
	case fc.period == p.period && p.period == dailyHours:
		format = p.why.sizeDaily
	case fc.period != p.period:
		format = p.why.sizeFallback
	}
	return recommend(desired, model.Because(format,
		model.Str(p.moment(at, fc.period)), model.Num(fc.value), model.Int(fc.n),
		model.Str(p.bucketLabel(at, fc.period)), model.Num(fc.value), model.Int(desired))), nil
}

// forecastValue is a forecast and what it came from.
type forecastValue struct {
	value  float64
	period int64 // the season it was read from: the weekly one falls back to daily
	n      int   // days (or weeks) behind the bucket holding the forecast time
}

// forecast interpolates the profile's bucket means at t. Bucket a (the hour
// since the epoch) is centred on its half hour; t lies between the centres
// of a0 and a0+1. A weekly profile without data for either hour (under a
// week of history) falls back to the daily one.
func (p *predictive) forecast(prof *model.Profile, t time.Time) (forecastValue, bool) {
	x := float64(t.UnixNano())/float64(time.Hour) - 0.5
	a0 := int64(math.Floor(x))
	frac := x - float64(a0)
	hour := model.HourOf(t.UnixNano())
	for _, period := range []int64{p.period, dailyHours} {
		m0, n0 := prof.Bucket(a0, period)
		m1, n1 := prof.Bucket(a0+1, period)
		var v float64
		switch {
		case n0 > 0 && n1 > 0:
			v = m0 + frac*(m1-m0)
		case period != dailyHours:
			continue // try the daily season
		case n0 > 0:
			v = m0
		case n1 > 0:
			v = m1
		default:
			return forecastValue{}, false
		}
		_, n := prof.Bucket(hour, period)
		if n == 0 {
			n = max(n0, n1)
		}
		return forecastValue{value: v, period: period, n: n}, true
	}
	return forecastValue{}, false
}

// moment renders the forecast time: "14:05 UTC", with the weekday for a
// weekly season.
func (p *predictive) moment(t time.Time, period int64) string {
	if period == weeklyHours {
		return t.Format("Mon 15:04 UTC")
	}
	return t.Format("15:04 UTC")
}

// bucketLabel renders the hour t falls in: "14:00–15:00", or
// "Tue 14:00–15:00" for a weekly season.
func (p *predictive) bucketLabel(t time.Time, period int64) string {
	start := t.Truncate(time.Hour)
	label := start.Format("15:04") + "–" + start.Add(time.Hour).Format("15:04")
	if period == weeklyHours {
		label = start.Format("Mon ") + label
	}
	return label
}

var (
	_ Policy     = (*predictive)(nil)
	_ Forecaster = (*predictive)(nil)
)
