package policy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// adjustment is how a step policy applies the matching step's value.
type adjustment int8

const (
	adjustChange  adjustment = iota // add the value to the current capacity
	adjustExact                     // set the capacity to the value
	adjustPercent                   // add that percent of the current capacity
)

// step is step scaling with the semantics of AWS Auto Scaling: the breach
// (signal − threshold) selects one interval, whose adjustment applies.
type step struct {
	name         string
	signal       string
	index        []int
	threshold    float64
	adjustment   adjustment
	minMagnitude int
	warmup       time.Duration
	steps        []stepRange
	noStep       string // Reason format when no step matches
}

// stepRange is one interval of breaches. Absent bounds are infinite.
type stepRange struct {
	from, to float64
	adjust   int
	// why explains the result; whyMin, for percent steps, a result raised to
	// the minimum magnitude; whyWarm, a scale-out counting capacity still
	// warming up.
	why, whyMin, whyWarm string
}

func newStep(name string, c config.Step, index func(string) int) (*step, error) {
	if c.Warmup < 0 {
		return nil, fmt.Errorf("warmup %s: must be ≥ 0", c.Warmup.D())
	}
	i, err := lookup(index, c.Signal)
	if err != nil {
		return nil, err
	}
	if !finite(c.Threshold) {
		return nil, fmt.Errorf("threshold %s: must be a finite number", num(c.Threshold))
	}
	p := &step{
		name:         name,
		signal:       c.Signal,
		index:        []int{i},
		threshold:    c.Threshold,
		minMagnitude: c.MinMagnitude,
		warmup:       c.Warmup.D(),
	}
	switch c.Adjustment {
	case "change", "":
		p.adjustment = adjustChange
	case "exact":
		p.adjustment = adjustExact
	case "percent":
		p.adjustment = adjustPercent
	default:
		return nil, fmt.Errorf("unknown adjustment %q: want change, exact or percent", c.Adjustment)
	}
	if c.MinMagnitude < 0 {
		return nil, fmt.Errorf("min_magnitude %d: must be ≥ 0", c.MinMagnitude)
	}
	if len(c.Steps) == 0 {
		return nil, fmt.Errorf("no steps")
	}
	for k, s := range c.Steps {
		r := stepRange{from: math.Inf(-1), to: math.Inf(1), adjust: s.Adjust}
		if s.From != nil {
			r.from = *s.From
		}
		if s.To != nil {
			r.to = *s.To
		}
		if math.IsNaN(r.from) || math.IsNaN(r.to) || r.from >= r.to {
			return nil, fmt.Errorf("steps[%d]: from %s must be below to %s", k, num(r.from), num(r.to))
		}
		if p.adjustment == adjustExact && s.Adjust < 0 {
			return nil, fmt.Errorf("steps[%d]: exact capacity %d must be ≥ 0", k, s.Adjust)
		}
		r.why, r.whyMin, r.whyWarm = p.stepReasons(r)
		p.steps = append(p.steps, r)
	}
	if err := checkOverlap(p.steps); err != nil {
		return nil, err
	}
	p.noStep = fill("{signal} %v is within no step (threshold {threshold})",
		"{signal}", c.Signal, "{threshold}", num(c.Threshold))
	return p, nil
}

// checkOverlap rejects steps whose intervals share any breach value: which
// one applied would depend on their order in the file.
func checkOverlap(steps []stepRange) error {
	sorted := slices.Clone(steps)
	slices.SortFunc(sorted, func(a, b stepRange) int {
		switch {
		case a.from < b.from:
			return -1
		case a.from > b.from:
			return 1
		}
		return 0
	})
	for k := 1; k < len(sorted); k++ {
		prev, cur := sorted[k-1], sorted[k]
		// Bounds meet without overlapping: a shared edge belongs to one side
		// only (see match).
		if prev.to > cur.from {
			return fmt.Errorf("steps %s and %s overlap", stepBounds(prev.from, prev.to), stepBounds(cur.from, cur.to))
		}
	}
	return nil
}

// stepReasons builds a step's Reason formats. Every format takes the signal's
// value and the breach first.
func (p *step) stepReasons(r stepRange) (why, whyMin, whyWarm string) {
	f := func(s string) string {
		return fill("{signal} %v vs threshold {threshold} (breach %v) in step {bounds}: "+s,
			"{signal}", p.signal,
			"{threshold}", num(p.threshold),
			"{bounds}", stepBounds(r.from, r.to),
			"{adjust}", fmt.Sprintf("%+d", r.adjust),
			"{exact}", fmt.Sprint(r.adjust),
			"{min}", fmt.Sprint(p.minMagnitude),
			"{warmup}", model.FormatDuration(p.warmup))
	}
	// At most six arguments: value, breach and four.
	const warm = "%v instances added within the warm-up {warmup} still count toward it: "
	switch p.adjustment {
	case adjustExact:
		return f("set capacity to {exact}"), "", ""
	case adjustPercent:
		return f("{adjust}%% of %v is %v, change by %v to %v"),
			f("{adjust}%% of %v is %v, below min magnitude {min}: change by %v to %v"),
			f(warm + "{adjust}%% of the %v before them is %v: %v")
	default:
		return f("change by {adjust}: %v → %v"), "",
			f(warm + "change by {adjust} from the %v before them: %v")
	}
}

// stepBounds renders an interval with the edges match gives it: at or above
// the threshold the lower bound is inclusive, below it the upper one.
func stepBounds(from, to float64) string {
	lo := "(-inf"
	if !math.IsInf(from, -1) {
		if from >= 0 {
			lo = "[" + num(from)
		} else {
			lo = "(" + num(from)
		}
	}
	hi := "+inf)"
	if !math.IsInf(to, 1) {
		if to < 0 {
			hi = num(to) + "]"
		} else {
			hi = num(to) + ")"
		}
	}
	return lo + ", " + hi
}

// match reports whether a breach falls in the interval. AWS: when the metric
// is at or above the threshold the lower bound is inclusive and the upper
// exclusive; below it, the reverse.
func (r stepRange) match(diff float64) bool {
	if diff >= 0 {
		return r.from <= diff && diff < r.to
	}
	return r.from < diff && diff <= r.to
}

func (p *step) Name() string   { return p.name }
func (p *step) Signals() []int { return p.index }

// History is how far back the policy reads capacity changes: its warm-up.
func (p *step) History() time.Duration { return p.warmup }

// warming is the capacity added within the warm-up, which AWS counts
// toward the current capacity while it warms up.
func (p *step) warming(in Input) int {
	if p.warmup <= 0 || in.AddedSince == nil {
		return 0
	}
	return min(in.AddedSince(in.Now.Add(-p.warmup)), in.Current)
}

func (p *step) Evaluate(in Input) (model.Recommendation, error) {
	v, err := read(&in, p.index[0], p.signal)
	if err != nil {
		return model.Recommendation{}, err
	}
	diff := v - p.threshold
	k := slices.IndexFunc(p.steps, func(r stepRange) bool { return r.match(diff) })
	if k < 0 {
		return abstain(model.Because(p.noStep, model.Num(v))), nil
	}
	r := p.steps[k]
	val, breach := model.Num(v), model.Num(diff)
	switch p.adjustment {
	case adjustExact:
		return recommend(clampCount(float64(r.adjust)), model.Because(r.why, val, breach)), nil
	case adjustPercent:
		// A scale-out while capacity warms up starts from the capacity
		// before it: a breach in the same step adds nothing more, a larger
		// step only the difference (AWS's instance warm-up).
		warming := 0
		if r.adjust > 0 {
			warming = p.warming(in)
		}
		base := in.Current - warming
		raw := float64(base) * float64(r.adjust) / 100
		change := awsRound(raw)
		why := r.why
		if abs(change) < p.minMagnitude && r.adjust != 0 {
			change, why = p.minMagnitude, r.whyMin
			if r.adjust < 0 {
				change = -change
			}
		}
		desired := clampCount(float64(base) + float64(change))
		if warming > 0 {
			desired = max(desired, in.Current)
			return recommend(desired, model.Because(r.whyWarm, val, breach, model.Int(warming),
				model.Int(base), model.Int(change), model.Int(desired))), nil
		}
		return recommend(desired, model.Because(why,
			val, breach, model.Int(in.Current), model.Num(raw), model.Int(change), model.Int(desired))), nil
	default:
		if warming := p.warming(in); r.adjust > 0 && warming > 0 {
			base := in.Current - warming
			desired := max(clampCount(float64(base)+float64(r.adjust)), in.Current)
			return recommend(desired, model.Because(r.whyWarm, val, breach, model.Int(warming),
				model.Int(base), model.Int(desired))), nil
		}
		desired := clampCount(float64(in.Current) + float64(r.adjust))
		return recommend(desired, model.Because(r.why,
			val, breach, model.Int(in.Current), model.Int(desired))), nil
	}
}

// awsRound turns a percent change into whole instances as AWS does: changes
// above 1 round down and below −1 round up (toward zero, so a percentage
// never overshoots), while any change between −1 and 1 becomes ±1 (so a
// matching step always does something).
func awsRound(change float64) int {
	change = math.Max(-maxCount, math.Min(maxCount, change))
	switch {
	case change >= 1:
		return int(math.Floor(change))
	case change > 0:
		return 1
	case change == 0:
		return 0
	case change > -1:
		return -1
	default:
		return int(math.Ceil(change))
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

var _ Policy = (*step)(nil)
