package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// streaming sizes a streaming job (Flink, Beam, Kafka consumers). Every
// rescale restarts the job from a checkpoint, so it scales rarely and
// asymmetrically: up as soon as the job falls behind, to a size that keeps up
// with input and clears the backlog within catch_up; down only when the job
// is idle-ish with nothing to catch up on, and then by CPU alone, because
// throughput measured while the job is not saturated says nothing about
// capacity.
type streaming struct {
	name string
	// index holds the signals input_rate, throughput, backlog, cpu and, when
	// configured, growth, in that order; names their names.
	index                []int
	names                []string
	catchUp              float64 // seconds
	cpuTarget            float64
	upBacklog, upCPU     float64 // seconds, fraction
	downBacklog, downCPU float64
	minInterval          time.Duration
	maxParallelism       int
	why                  streamingReasons
}

// sample is one tick's readings. backlogTime is the seconds of processing
// the backlog represents: +Inf when there is a backlog but no throughput.
type sample struct {
	rate, tput, backlog, cpu, growth, backlogTime float64
}

// upTrigger says which scale-up conditions fired.
type upTrigger uint8

const (
	triggerBacklog upTrigger = 1 << iota
	triggerCPU
)

// streamingReasons are the policy's Reason formats, filled in at build time.
// Each has a capped twin, used when max_parallelism lowers the result.
type streamingReasons struct {
	settling, keepUp, byCPU, oneMore, wake         streamingReason
	down, downOne, noShrink, busy, growing, behind streamingReason
	// Up-trigger descriptions, passed as the first argument of up reasons.
	upBacklogText, upCPUText, upBothText string
}

type streamingReason struct{ plain, capped string }

func newStreaming(name string, c config.Streaming, index func(string) int) (*streaming, error) {
	p := &streaming{
		name:           name,
		catchUp:        c.CatchUp.D().Seconds(),
		cpuTarget:      c.CPUTarget,
		upBacklog:      c.Up.BacklogTime.D().Seconds(),
		upCPU:          c.Up.CPU,
		downBacklog:    c.Down.BacklogTime.D().Seconds(),
		downCPU:        c.Down.CPU,
		minInterval:    c.MinInterval.D(),
		maxParallelism: c.MaxParallelism,
	}
	signals := [][2]string{
		{"input_rate", c.InputRate},
		{"throughput", c.Throughput},
		{"backlog", c.Backlog},
		{"cpu", c.CPU},
	}
	if c.Growth != "" {
		signals = append(signals, [2]string{"growth", c.Growth})
	}
	for _, s := range signals {
		i, err := lookup(index, s[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s[0], err)
		}
		p.index = append(p.index, i)
		p.names = append(p.names, s[1])
	}
	switch {
	case p.catchUp <= 0:
		return nil, errors.New("catch_up: must be > 0")
	case !finite(p.cpuTarget) || p.cpuTarget <= 0:
		return nil, fmt.Errorf("cpu_target %s: must be a number > 0", num(p.cpuTarget))
	case !finite(p.upCPU) || !finite(p.downCPU):
		return nil, errors.New("up.cpu and down.cpu: must be finite numbers")
	case p.maxParallelism < 0:
		return nil, fmt.Errorf("max_parallelism %d: must be ≥ 0", p.maxParallelism)
	}
	p.why = p.reasons(c)
	return p, nil
}

func (p *streaming) reasons(c config.Streaming) streamingReasons {
	f := func(s string) streamingReason {
		r := func(s string) string {
			return fill(s,
				"{backlog}", c.Backlog,
				"{catchup}", model.FormatDuration(c.CatchUp.D()),
				"{catchupsec}", num(p.catchUp),
				"{cputarget}", num(p.cpuTarget),
				"{downcpu}", num(p.downCPU),
				"{downbacklog}", model.FormatDuration(c.Down.BacklogTime.D()),
				"{upcpu}", num(p.upCPU),
				"{upbacklog}", model.FormatDuration(c.Up.BacklogTime.D()),
				"{interval}", model.FormatDuration(p.minInterval),
				"{maxpar}", fmt.Sprint(p.maxParallelism))
		}
		return streamingReason{plain: r(s), capped: r(s + ", capped at max_parallelism {maxpar}")}
	}
	up := func(what string) string {
		return fill(what, "{upbacklog}", model.FormatDuration(c.Up.BacklogTime.D()), "{upcpu}", num(p.upCPU))
	}
	return streamingReasons{
		settling: f("last rescale %v ago, min_interval {interval}: hold %v"),
		keepUp:   f("%v: keep up and clear the backlog in {catchup}: ceil(%v × (%v + %v / {catchupsec}) / %v) = %v"),
		byCPU:    f("%v: size by cpu: ceil(%v × %v / {cputarget}) = %v"),
		oneMore:  f("%v: sizing asks for %v; one more than %v is %v"),
		down:     f("cpu %v < {downcpu}, no growth (%v/s), backlog %vs: ceil(%v × %v / {cputarget}) = %v"),
		downOne:  f("cpu %v < {downcpu}, no growth (%v/s), backlog %vs: down to 1, the least a running job needs"),
		noShrink: f("cpu %v < {downcpu} but sizing by cpu_target {cputarget} gives %v: hold %v"),
		busy:     f("cpu %v between {downcpu} and {upcpu}, backlog %vs below {upbacklog}: hold %v"),
		growing:  f("cpu %v is low but the backlog grows %v/s: hold %v"),
		behind:   f("cpu %v is low but backlog %vs is not below {downbacklog}: hold %v"),
		wake:     f("{backlog} %v with no throughput and no instances: start 1"),

		upBacklogText: up("backlog above {upbacklog} of processing"),
		upCPUText:     up("cpu above {upcpu}"),
		upBothText:    up("backlog above {upbacklog} of processing and cpu above {upcpu}"),
	}
}

func (p *streaming) Name() string   { return p.name }
func (p *streaming) Signals() []int { return p.index }

func (p *streaming) Evaluate(in Input) (model.Recommendation, error) {
	var v [5]float64
	for k, i := range p.index {
		x, err := read(&in, i, p.names[k])
		if err != nil {
			return model.Recommendation{}, err
		}
		v[k] = x
	}
	s := sample{rate: v[0], tput: v[1], backlog: v[2], cpu: v[3], growth: v[0] - v[1]}
	if len(p.index) > 4 {
		s.growth = v[4]
	}
	switch {
	case s.tput > 0:
		s.backlogTime = s.backlog / s.tput
	case s.backlog > 0:
		s.backlogTime = math.Inf(1)
	}
	cur := in.Current

	if !in.LastScale.IsZero() {
		if since := in.Now.Sub(in.LastScale); since < p.minInterval {
			return p.out(cur, p.why.settling, model.Dur(since), model.Int(cur)), nil
		}
	}

	var trigger upTrigger
	if s.backlogTime > p.upBacklog {
		trigger |= triggerBacklog
	}
	if s.cpu > p.upCPU {
		trigger |= triggerCPU
	}
	if trigger != 0 {
		return p.up(cur, s, trigger)
	}
	if s.cpu < p.downCPU && s.growth <= 0 && s.backlogTime < p.downBacklog {
		return p.down(cur, s), nil
	}
	switch {
	case s.cpu >= p.downCPU:
		return p.out(cur, p.why.busy, model.Num(s.cpu), model.Num(s.backlogTime), model.Int(cur)), nil
	case s.growth > 0:
		return p.out(cur, p.why.growing, model.Num(s.cpu), model.Num(s.growth), model.Int(cur)), nil
	default:
		return p.out(cur, p.why.behind, model.Num(s.cpu), model.Num(s.backlogTime), model.Int(cur)), nil
	}
}

// up sizes a scale-up: the larger of what keeps up with input while clearing
// the backlog in catch_up, and what brings CPU to its target; at least one
// more than now, since a trigger fired.
func (p *streaming) up(cur int, s sample, trigger upTrigger) (model.Recommendation, error) {
	text := p.why.upCPUText
	switch trigger {
	case triggerBacklog | triggerCPU:
		text = p.why.upBothText
	case triggerBacklog:
		text = p.why.upBacklogText
	}
	why := model.Str(text)

	keep := 0
	if s.tput > 0 {
		keep = ceilCount(float64(cur) * (s.rate + s.backlog/p.catchUp) / s.tput)
	} else if trigger&triggerBacklog != 0 {
		// Per-instance throughput is unknown, so no size follows from the
		// backlog; but a group at zero needs a first instance to measure.
		if cur == 0 {
			return p.out(1, p.why.wake, model.Num(s.backlog)), nil
		}
		return model.Recommendation{}, fmt.Errorf("throughput is %s: cannot size", num(s.tput))
	}
	byCPUSize := 0
	if trigger&triggerCPU != 0 {
		byCPUSize = ceilCount(float64(cur) * s.cpu / p.cpuTarget)
	}
	switch size := max(keep, byCPUSize); {
	case size <= cur:
		more := min(cur, maxCount-1) + 1
		return p.out(more, p.why.oneMore, why, model.Int(size), model.Int(cur), model.Int(more)), nil
	case keep >= byCPUSize:
		return p.out(keep, p.why.keepUp,
			why, model.Int(cur), model.Num(s.rate), model.Num(s.backlog), model.Num(s.tput), model.Int(keep)), nil
	default:
		return p.out(byCPUSize, p.why.byCPU, why, model.Int(cur), model.Num(s.cpu), model.Int(byCPUSize)), nil
	}
}

// down sizes a scale-down by CPU alone, never above the current capacity and
// never below one instance: the job is running and has input.
func (p *streaming) down(cur int, s sample) model.Recommendation {
	need := ceilCount(float64(cur) * s.cpu / p.cpuTarget)
	switch {
	case need >= cur:
		return p.out(cur, p.why.noShrink, model.Num(s.cpu), model.Int(need), model.Int(cur))
	case need < 1:
		return p.out(1, p.why.downOne, model.Num(s.cpu), model.Num(s.growth), model.Num(s.backlogTime))
	}
	return p.out(need, p.why.down,
		model.Num(s.cpu), model.Num(s.growth), model.Num(s.backlogTime), model.Int(cur), model.Num(s.cpu), model.Int(need))
}

// out recommends desired, capped at max_parallelism: the job cannot use more
// instances than it has parallel tasks.
func (p *streaming) out(desired int, r streamingReason, args ...model.Arg) model.Recommendation {
	if p.maxParallelism > 0 && desired > p.maxParallelism {
		return recommend(p.maxParallelism, model.Because(r.capped, args...))
	}
	return recommend(desired, model.Because(r.plain, args...))
}

var _ Policy = (*streaming)(nil)
