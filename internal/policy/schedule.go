package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
	// Embedded zone data: a schedule's time zone must load the same on a
	// minimal container image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// cronParser reads standard five-field expressions and descriptors such as
// @daily, like cron.ParseStandard.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedule opens windows at cron times, each for a duration, in which it sets
// min, max or desired capacity.
type schedule struct {
	name    string
	loc     *time.Location
	windows []window
	closed  string // Reason when no window is open
}

// window is one recurring window.
type window struct {
	sched    *cron.SpecSchedule
	duration time.Duration
	label    string // "window '0 8 * * 1-5' (Europe/Paris)"
	min      int
	max      int
	desired  int
	set      windowFields
}

// windowFields says which of min, max and desired a window (or the windows
// open together) set; it indexes scheduleFormats.
type windowFields uint8

const (
	setDesired windowFields = 1 << iota
	setMin
	setMax
)

// scheduleFormats[several][fields] explains what the open windows set: the
// first argument is a window's label, then (when several are open) how many
// others, then desired, min and max as set.
var scheduleFormats = func() (f [2][8]string) {
	for fields := range windowFields(8) {
		var parts []string
		if fields&setDesired != 0 {
			parts = append(parts, "desired %v")
		}
		if fields&setMin != 0 {
			parts = append(parts, "min %v")
		}
		if fields&setMax != 0 {
			parts = append(parts, "max %v")
		}
		rest := strings.Join(parts, ", ")
		f[0][fields] = "%v open: " + rest
		f[1][fields] = "%v and %v more open: " + rest
	}
	return f
}()

func newSchedule(name string, c config.Schedule) (*schedule, error) {
	// An empty zone is UTC, as for time.LoadLocation and the config default.
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", c.Timezone, err)
	}
	if len(c.Windows) == 0 {
		return nil, errors.New("no windows")
	}
	p := &schedule{
		name:   name,
		loc:    loc,
		closed: fill("no schedule window open ({tz})", "{tz}", loc.String()),
	}
	for k, w := range c.Windows {
		win, err := newWindow(w, loc)
		if err != nil {
			return nil, fmt.Errorf("windows[%d]: %w", k, err)
		}
		p.windows = append(p.windows, win)
	}
	return p, nil
}

func newWindow(c config.ScheduleWindow, loc *time.Location) (window, error) {
	sched, err := parseCron(c.Cron)
	if err != nil {
		return window{}, err
	}
	// Next gives up after five years and returns the zero time: an
	// expression such as "0 0 30 2 *" never fires. The reference date only
	// needs to be fixed (policies have no clock); 2000 is a leap year.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return window{}, fmt.Errorf("cron %q never fires", c.Cron)
	}
	if c.Duration.D() <= 0 {
		return window{}, fmt.Errorf("duration %s: must be > 0", c.Duration)
	}
	w := window{
		sched:    sched,
		duration: c.Duration.D(),
		label:    "window '" + c.Cron + "' (" + loc.String() + ")",
	}
	if c.Min != nil {
		if *c.Min < 0 {
			return window{}, fmt.Errorf("min %d: must be ≥ 0", *c.Min)
		}
		w.min, w.set = *c.Min, w.set|setMin
	}
	if c.Max != nil {
		if *c.Max < 0 {
			return window{}, fmt.Errorf("max %d: must be ≥ 0", *c.Max)
		}
		w.max, w.set = *c.Max, w.set|setMax
	}
	if c.Desired != nil {
		if *c.Desired < 0 {
			return window{}, fmt.Errorf("desired %d: must be ≥ 0", *c.Desired)
		}
		w.desired, w.set = *c.Desired, w.set|setDesired
	}
	if w.set == 0 {
		return window{}, errors.New("sets none of min, max and desired")
	}
	if w.set&setMin != 0 && w.set&setMax != 0 && w.min > w.max {
		return window{}, fmt.Errorf("min %d is above max %d", w.min, w.max)
	}
	return w, nil
}

// parseCron parses a five-field expression to be read in the schedule's time
// zone.
func parseCron(spec string) (s *cron.SpecSchedule, err error) {
	// The schedule's timezone is the one source of zones. The prefix is
	// also where robfig/cron v3 panics on malformed input ("TZ=UTC"
	// without fields): reject it before the parser sees it.
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("cron %q sets a time zone: use the schedule's timezone instead", spec)
	}
	// The parser is unmaintained and has panicked on other malformed input
	// before; a config typo must stay an error.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cron %q: cannot parse", spec)
		}
	}()
	parsed, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		// @every: a fixed delay from whenever it was started, which a
		// window computed from Now alone cannot express.
		return nil, fmt.Errorf("cron %q: want a five-field expression or a descriptor such as @daily", spec)
	}
	return ss, nil
}

// openAt reports whether the window is open at now: whether it fired at some
// t with t ≤ now < t + duration. Next returns the first fire strictly after
// its argument, so the first fire after now − duration is such a t exactly
// when it is not after now.
func (w window) openAt(now time.Time) bool {
	next := w.sched.Next(now.Add(-w.duration))
	return !next.IsZero() && !next.After(now)
}

func (p *schedule) Name() string   { return p.name }
func (p *schedule) Signals() []int { return nil }

// Evaluate combines the open windows: the largest min, the smallest max and
// the largest desired win.
func (p *schedule) Evaluate(in Input) (model.Recommendation, error) {
	// Cron fields are wall-clock times in the schedule's zone; Next reads
	// them in the location of the time it is given.
	now := in.Now.In(p.loc)
	var (
		open  int
		label string
		set   windowFields
		b     model.Bounds
		want  int
	)
	for _, w := range p.windows {
		if !w.openAt(now) {
			continue
		}
		if open == 0 {
			label = w.label
		}
		open++
		if w.set&setMin != 0 && (set&setMin == 0 || w.min > b.Min) {
			b.Min = w.min
		}
		if w.set&setMax != 0 && (set&setMax == 0 || w.max < b.Max) {
			b.Max = w.max
		}
		if w.set&setDesired != 0 && (set&setDesired == 0 || w.desired > want) {
			want = w.desired
		}
		set |= w.set
	}
	if open == 0 {
		return abstain(model.Because(p.closed)), nil
	}
	b.HasMin, b.HasMax = set&setMin != 0, set&setMax != 0

	args := make([]model.Arg, 0, 5)
	several := 0
	args = append(args, model.Str(label))
	if open > 1 {
		several = 1
		args = append(args, model.Int(open-1))
	}
	if set&setDesired != 0 {
		args = append(args, model.Int(want))
	}
	if b.HasMin {
		args = append(args, model.Int(b.Min))
	}
	if b.HasMax {
		args = append(args, model.Int(b.Max))
	}
	why := model.Because(scheduleFormats[several][set], args...)

	var rec model.Recommendation
	if set&setDesired != 0 {
		rec = recommend(want, why)
	} else {
		// Bounds without a capacity: the engine applies them, while the
		// other policies decide.
		rec = abstain(why)
	}
	rec.Bounds = b
	return rec, nil
}

var _ Policy = (*schedule)(nil)
