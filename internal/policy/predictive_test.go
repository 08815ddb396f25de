package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// monday is a Monday 00:00 UTC.
var monday = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func predictiveSpec(season string, lead time.Duration) config.Policy {
	l := config.Duration(lead)
	return config.Policy{Predictive: &config.Predictive{
		Signal: "rps", PerInstance: 100, Season: season, Lead: &l,
		History: dur("336h"), MinHistory: dur("24h"),
	}}
}

// learn evaluates p once a minute over [from, to) with rps from load, as
// the engine does, and returns the last recommendation.
func learn(t *testing.T, p Policy, prof *model.Profile, from, to time.Time, load func(time.Time) float64) model.Recommendation {
	t.Helper()
	var rec model.Recommendation
	for now := from; now.Before(to); now = now.Add(time.Minute) {
		var err error
		rec, err = p.Evaluate(Input{Now: now, Values: vals(load(now)), Profile: prof, Memory: &model.Datapoints{}})
		if err != nil {
			t.Fatalf("at %v: %v", now, err)
		}
	}
	return rec
}

// hourly is a load that is 100 × the hour of the day, plus 10000 on
// Tuesdays: a weekly pattern on a daily one.
func hourly(now time.Time) float64 {
	v := 100 * float64(now.Hour())
	if now.Weekday() == time.Tuesday {
		v += 10000
	}
	return v
}

func TestPredictive(t *testing.T) {
	t.Run("weekly season falls back to the daily profile for the first week", func(t *testing.T) {
		p := mustNew(t, predictiveSpec("weekly", 30*time.Minute), "rps")
		prof := &model.Profile{}
		// Monday and Tuesday to 05:10. At 05:10 the forecast is for
		// 05:40, between the centres of 05:00 and 06:00, a sixth of the
		// way. No Tuesday 05:00 or 06:00 is closed yet: the daily profile
		// answers, from Monday's 500 and 600.
		rec := learn(t, p, prof, monday, monday.Add(29*time.Hour+11*time.Minute), hourly)
		expect(t, rec, nil, recommends(6),
			"forecast of rps at 05:40 UTC (lead 30m): 516.667 from the last 1 days of 05:00–06:00 (daily until a week of history): ceil(516.667 / 100) = 6")
	})
	t.Run("weekly season tells Tuesdays from Mondays", func(t *testing.T) {
		p := mustNew(t, predictiveSpec("weekly", 0), "rps")
		prof := &model.Profile{}
		// Two weeks, then Tuesday 12:30 of the third: the weekly bucket
		// holds two Tuesdays at 10000 + 1200, the centre of 12:00.
		end := monday.Add(15*24*time.Hour + 12*time.Hour + 30*time.Minute)
		rec := learn(t, p, prof, monday, end.Add(time.Minute), hourly)
		expect(t, rec, nil, recommends(112),
			"forecast of rps at Tue 12:30 UTC (lead 0s): 11200 from the last 2 weeks of Tue 12:00–13:00: ceil(11200 / 100) = 112")
	})
	t.Run("daily season averages every day", func(t *testing.T) {
		p := mustNew(t, predictiveSpec("daily", 0), "rps")
		prof := &model.Profile{}
		// Mon–Sun, then Monday 12:30: of the 7 days at 12:00 one is a
		// Tuesday: 1200 + 10000/7.
		end := monday.Add(7*24*time.Hour + 12*time.Hour + 30*time.Minute)
		rec := learn(t, p, prof, monday, end.Add(time.Minute), hourly)
		expect(t, rec, nil, recommends(ceilCount((1200+10000.0/7)/100)),
			"from the last 7 days of 12:00–13:00")
	})
	t.Run("a gap in the history abstains", func(t *testing.T) {
		spec := predictiveSpec("daily", 0)
		spec.Predictive.MinHistory = 0
		p := mustNew(t, spec, "rps")
		prof := &model.Profile{}
		// 02:00–04:00 only, asked at 10:00: nothing at 09:00 or 10:00.
		learn(t, p, prof, monday.Add(2*time.Hour), monday.Add(4*time.Hour+time.Minute), hourly)
		rec, err := p.Evaluate(Input{Now: monday.Add(10 * time.Hour), Values: []Value{{}}, Profile: prof})
		expect(t, rec, err, abstains, "rps: no history for Mon 10:00 or the hour next to it: no forecast")
	})
	t.Run("substituted and missing values are not learned", func(t *testing.T) {
		p := mustNew(t, predictiveSpec("daily", 0), "rps")
		prof := &model.Profile{}
		for now := monday; now.Before(monday.Add(2 * time.Hour)); now = now.Add(time.Minute) {
			rec, err := p.Evaluate(Input{Now: now, Values: []Value{{V: 1e6, OK: true, Substituted: true}}, Profile: prof})
			expect(t, rec, err, abstains, "0s of history")
			if _, err := p.Evaluate(Input{Now: now, Values: []Value{{}}, Profile: prof}); err != nil {
				t.Fatal(err)
			}
		}
		if !prof.Empty() {
			t.Errorf("profile learned %+v", prof)
		}
	})
	t.Run("a profile of another signal starts afresh", func(t *testing.T) {
		p := mustNew(t, predictiveSpec("daily", 0), "rps")
		prof := &model.Profile{Version: model.ProfileVersion, Signal: "cpu", Hour: 10, Means: []float64{5}, Counts: []int32{60}}
		if _, err := p.Evaluate(Input{Now: monday, Values: vals(7), Profile: prof}); err != nil {
			t.Fatal(err)
		}
		if prof.Signal != "rps" || len(prof.Means) != 0 || prof.N != 1 || prof.Sum != 7 {
			t.Errorf("profile not reset: %+v", prof)
		}
	})
}

func TestNewPredictiveErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Predictive)
		want string
	}{
		{name: "no signal", edit: func(c *config.Predictive) { c.Signal = "" }, want: "predictive: no signal set"},
		{name: "per_instance 0", edit: func(c *config.Predictive) { c.PerInstance = 0 }, want: "per_instance 0: must be a number > 0"},
		{name: "season", edit: func(c *config.Predictive) { c.Season = "monthly" }, want: `unknown season "monthly": want weekly or daily`},
		{name: "no lead", edit: func(c *config.Predictive) { c.Lead = nil }, want: "no lead set"},
		{name: "negative lead", edit: func(c *config.Predictive) { l := dur("-1m"); c.Lead = &l }, want: "lead -1m: must be ≥ 0"},
		{name: "short history", edit: func(c *config.Predictive) { c.History = dur("100h") }, want: "history 100h: must be at least one season (168h)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := predictiveSpec("weekly", time.Minute)
			tt.edit(spec.Predictive)
			_, err := New(spec, indexOf("rps"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
