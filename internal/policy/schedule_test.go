package policy

import (
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleWindows(t *testing.T) {
	// Europe/Paris is UTC+1 until 2026-03-29 02:00, then UTC+2; back to
	// UTC+1 on 2026-10-25 03:00. 2026-03-02 is a Monday.
	weekday := config.ScheduleWindow{Cron: "0 8 * * 1-5", Duration: dur("10h"), Min: intp(5)}
	daily := config.ScheduleWindow{Cron: "0 8 * * *", Duration: dur("2h"), Desired: intp(10)}
	night := config.ScheduleWindow{Cron: "0 1 * * *", Duration: dur("3h"), Max: intp(4)}
	tests := []struct {
		name    string
		windows []config.ScheduleWindow
		now     string // UTC
		want    outcome
		reason  []string
	}{
		{
			name: "weekday: exactly at the fire time is open", windows: []config.ScheduleWindow{weekday},
			now:    "2026-03-02 07:00:00",
			want:   outcome{Opinion: model.Abstain, Bounds: model.Bounds{Min: 5, HasMin: true}},
			reason: []string{"window '0 8 * * 1-5' (Europe/Paris) open: min 5"},
		},
		{
			name: "weekday: a second before is closed", windows: []config.ScheduleWindow{weekday},
			now:    "2026-03-02 06:59:59",
			want:   abstains,
			reason: []string{"no schedule window open (Europe/Paris)"},
		},
		{
			name: "weekday: a second before the end is open", windows: []config.ScheduleWindow{weekday},
			now:  "2026-03-02 16:59:59",
			want: outcome{Opinion: model.Abstain, Bounds: model.Bounds{Min: 5, HasMin: true}},
		},
		{
			name: "weekday: exactly fire + duration is closed", windows: []config.ScheduleWindow{weekday},
			now:  "2026-03-02 17:00:00",
			want: abstains,
		},
		{
			name: "weekday: friday is open", windows: []config.ScheduleWindow{weekday},
			now:  "2026-03-06 12:00:00",
			want: outcome{Opinion: model.Abstain, Bounds: model.Bounds{Min: 5, HasMin: true}},
		},
		{
			name: "weekday: saturday is closed", windows: []config.ScheduleWindow{weekday},
			now:  "2026-03-07 09:00:00",
			want: abstains,
		},
		{
			name: "dst: 08:00 before the change is 07:00 UTC", windows: []config.ScheduleWindow{daily},
			now:    "2026-03-28 07:00:00",
			want:   recommends(10),
			reason: []string{"window '0 8 * * *' (Europe/Paris) open: desired 10"},
		},
		{
			name: "dst: 06:00 UTC the day before is 07:00 local, closed", windows: []config.ScheduleWindow{daily},
			now:  "2026-03-28 06:00:00",
			want: abstains,
		},
		{
			name: "dst: 08:00 after the change is 06:00 UTC", windows: []config.ScheduleWindow{daily},
			now:  "2026-03-29 06:00:00",
			want: recommends(10),
		},
		{
			name: "dst: 08:00 UTC after the change is 10:00 local, closed", windows: []config.ScheduleWindow{daily},
			now:  "2026-03-29 08:00:00",
			want: abstains,
		},
		{
			name: "dst: back to 07:00 UTC in october", windows: []config.ScheduleWindow{daily},
			now:  "2026-10-25 07:00:00",
			want: recommends(10),
		},
		{
			name: "dst: 06:30 UTC in october is 07:30 local, closed", windows: []config.ScheduleWindow{daily},
			now:  "2026-10-25 06:30:00",
			want: abstains,
		},
		{
			// Opens 01:00 CET (00:00 UTC); the duration is elapsed time, so
			// it closes at 03:00 UTC, 05:00 CEST.
			name: "dst: a window across the change lasts its duration", windows: []config.ScheduleWindow{night},
			now:    "2026-03-29 02:59:00",
			want:   outcome{Opinion: model.Abstain, Bounds: model.Bounds{Max: 4, HasMax: true}},
			reason: []string{"open: max 4"},
		},
		{
			name: "dst: and closes after it", windows: []config.ScheduleWindow{night},
			now:  "2026-03-29 03:00:00",
			want: abstains,
		},
		{
			name: "several open: largest min, smallest max, largest desired",
			windows: []config.ScheduleWindow{
				{Cron: "0 8 * * 1-5", Duration: dur("10h"), Min: intp(5), Max: intp(20)},
				{Cron: "0 12 * * *", Duration: dur("2h"), Min: intp(8), Desired: intp(10)},
				{Cron: "0 12 * * *", Duration: dur("1h"), Max: intp(15), Desired: intp(12)},
				{Cron: "0 20 * * *", Duration: dur("1h"), Desired: intp(50)},
			},
			now:    "2026-03-02 11:30:00",
			want:   outcome{Opinion: model.Recommend, Desired: 12, Bounds: model.Bounds{Min: 8, Max: 15, HasMin: true, HasMax: true}},
			reason: []string{"window '0 8 * * 1-5' (Europe/Paris) and 2 more open: desired 12, min 8, max 15"},
		},
		{
			name:    "overlapping fires keep a window open",
			windows: []config.ScheduleWindow{{Cron: "*/5 * * * *", Duration: dur("10m"), Desired: intp(3)}},
			now:     "2026-03-02 11:33:20",
			want:    recommends(3),
		},
		{
			name:    "descriptor",
			windows: []config.ScheduleWindow{{Cron: "@daily", Duration: dur("1h"), Desired: intp(0)}},
			now:     "2026-03-02 23:30:00", // 00:30 local
			want:    recommends(0),
			reason:  []string{"window '@daily' (Europe/Paris) open: desired 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, config.Policy{Schedule: &config.Schedule{Timezone: "Europe/Paris", Windows: tt.windows}})
			got, err := p.Evaluate(Input{Now: utc(tt.now), Current: 7})
			expect(t, got, err, tt.want, tt.reason...)
		})
	}
}

func TestScheduleUTCByDefault(t *testing.T) {
	p := mustNew(t, config.Policy{Schedule: &config.Schedule{Windows: []config.ScheduleWindow{
		{Cron: "0 8 * * *", Duration: dur("1h"), Desired: intp(4)},
	}}})
	got, err := p.Evaluate(Input{Now: utc("2026-07-01 08:00:00")})
	expect(t, got, err, recommends(4), "(UTC) open: desired 4")
}
