package baseline

import (
	"fmt"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// awsPeriod is the period of CloudWatch datapoints with detailed (1-minute)
// monitoring.
const awsPeriod = time.Minute

// awsTargetOutOf is how many datapoints target tracking's scale-out alarm
// needs above the target, all of the last as many.
const awsTargetOutOf = 3

// awsTarget is an AWS target tracking scaling policy on the workload's
// Target, per "How target tracking scaling works" (Application Auto
// Scaling user guide) and "Set the default instance warmup for an Auto
// Scaling group" (EC2 Auto Scaling user guide):
//
//   - 1-minute datapoints; the scale-out alarm fires when 3 of 3
//     datapoints are above the target, the scale-in alarm when 15 of 15
//     are below 90% of it;
//   - capacity is set in proportion to the metric: ceil(instances ×
//     metric ÷ target);
//   - instance warm-up = the group's boot time: new instances' metrics are
//     left out until it has passed, and scale-in waits while instances
//     warm up. EC2 Auto Scaling uses no cooldown with target tracking
//     (cooldowns are for simple scaling).
//
// In ebb: interval 60s, up.datapoints 3 of 3 with tolerance 0, down
// datapoints 15 of 15 with tolerance 0.1 (a scale-in is recommended only
// below 0.9 × target), behavior.warmup and down.cooldown = boot, no rate
// limits or stabilization windows.
//
// What ebb does not reproduce: a datapoint is the signal's value at the
// minute, not the minute's average; AWS does not publish how much a
// scale-in removes ("scales in more gradually"), so ebb removes in
// proportion, as it adds; down.cooldown blocks a scale-in for boot after
// any scaling, a scale-in included, where AWS blocks it only while
// instances warm up.
func awsTarget(g config.Group, t Target) (spec, error) {
	boot := g.Lifecycle.Launch.Boot.D()
	var policy string
	if t.PerReplica {
		policy = fmt.Sprintf("- name: aws-target\n  queue: {signal: %s, per_instance: %s}\n", t.Signal, num(t.Value))
	} else {
		policy = fmt.Sprintf("- name: aws-target\n  target: {signal: %s, value: %s}\n", t.Signal, num(t.Value))
	}
	return spec{
		min:      g.Capacity.Min,
		interval: awsPeriod,
		signals:  pushed(t.Signal),
		policies: policy,
		behavior: fmt.Sprintf(`up: {window: 0s, limits: [], tolerance: 0, datapoints: {need: %[1]d, of: %[1]d}}
down: {window: 0s, limits: [], tolerance: 0.1, datapoints: {need: 15, of: 15}, cooldown: %[2]s}
warmup: %[2]s
missing: hold
`, awsTargetOutOf, dur(boot)),
	}, nil
}

// AWS predictive scaling's settings: the history it reads (up to 14
// days), the least it forecasts from (24 hours) and SchedulingBufferTime's
// default, 300 s.
const (
	awsPredictiveHistory    = 14 * 24 * time.Hour
	awsPredictiveMinHistory = 24 * time.Hour
	awsPredictiveBuffer     = 300 * time.Second
)

// awsPredictive is an EC2 Auto Scaling predictive scaling policy in
// ForecastAndScale mode beside the target tracking policy of awsTarget (AWS
// recommends a dynamic scaling policy alongside, to follow real-time
// changes and to scale in), per "How predictive scaling works"
// (EC2 Auto Scaling user guide) and PredictiveScalingConfiguration and
// PredictiveScalingMetricSpecification (EC2 Auto Scaling API reference):
//
//   - the load metric is the workload's arrival rate (Target.Load), the
//     target its per-instance load at the target tracking target
//     (Target.LoadPerInstance), as a metric pair such as ALBRequestCount
//     with a target value per instance: capacity forecast = load forecast
//     ÷ target value;
//   - the forecast learns hourly from up to 14 days of history and needs
//     24 hours of it;
//   - it scales out ahead of a forecast rise and never scales in on a
//     forecast: removing capacity is left to the dynamic policy;
//   - SchedulingBufferTime at its default, 300 s: the capacity an hour
//     needs is launched that long before the hour;
//   - MaxCapacityBreachBehavior at its default, HonorMaxCapacity:
//     capacity.max holds.
//
// In ebb: the aws-target preset unchanged, plus a predictive policy on
// Target.Load with per_instance Target.LoadPerInstance, season weekly (the
// daily profile until a week of history), history 336h, min_history 24h,
// and lead = 300 s + 2 minutes. ebb's datapoints rule is the group's, not
// target tracking's alone: a forecast's scale-out too waits for 3 of 3
// one-minute evaluations, 2 minutes after the first, and the lead adds
// them back so that instances come the buffer ahead. The engine scales in
// only when target tracking asks to, and no lower than the forecast.
//
// What ebb does not reproduce: AWS forecasts with a model it does not
// publish (machine learning over daily and weekly patterns), refreshed
// every 6 hours for the next 48 and applied as one capacity per hour from
// the hour's start; ebb forecasts at every evaluation from the means of
// each hour of the week (or day) over the history, interpolated between
// the hours' centres, so capacity for a ramp that starts on the hour rises
// up to an hour early.
func awsPredictive(g config.Group, t Target) (spec, error) {
	s, err := awsTarget(g, t)
	if err != nil {
		return spec{}, err
	}
	if t.Load == "" || !(t.LoadPerInstance > 0) {
		return spec{}, fmt.Errorf("no load signal to forecast for target %s", t.Signal)
	}
	if t.Load != t.Signal {
		s.signals += pushed(t.Load)
	}
	lead := awsPredictiveBuffer + (awsTargetOutOf-1)*awsPeriod
	s.policies += fmt.Sprintf("- name: aws-predictive\n  predictive: {signal: %s, per_instance: %s, season: weekly, history: %s, min_history: %s, lead: %s}\n",
		t.Load, num(t.LoadPerInstance), dur(awsPredictiveHistory), dur(awsPredictiveMinHistory), dur(lead))
	return s, nil
}

// awsStepCooldown is the step policies' warm-up and the scale-in cooldown:
// Application Auto Scaling's default Cooldown, 300 s.
const awsStepCooldown = 300 * time.Second

// awsStep is a pair of AWS step scaling policies around the workload's
// Target T, per "Step and simple scaling policies" (EC2 Auto Scaling user
// guide) and StepScalingPolicyConfiguration (Application Auto Scaling API
// reference). The step table is ebb's, relative to T (AWS has no default
// table):
//
//	scale-out alarm: metric ≥ T, 1 of 1 one-minute datapoints
//	  breach [0, 10%) of T   +0
//	  breach [10%, 20%)      +1
//	  breach [20%, 40%)      +2
//	  breach ≥ 40%           +3
//	scale-in alarm: metric ≤ 0.8 × T, 1 of 1 datapoints: −1
//
// Warm-up 300 s: capacity added within it still counts toward the current
// capacity, so a repeated alarm adds only a larger step's difference (the
// API reference's example: +2, then +3 during the cooldown adds 1). Scale-in
// is blocked for 300 s after a scaling activity (the cooldown).
//
// For queue workers the metric is backlog per instance, backlog ÷ ready,
// AWS's recommended metric for scaling on an SQS queue.
//
// What ebb does not reproduce: a datapoint is the signal's value at the
// minute, not the minute's average; down.cooldown blocks a scale-in for
// 300 s after any scaling, where AWS's scale-in cooldown starts at a
// scale-in (and a scale-out's instances block scale-in only while they
// warm up).
func awsStep(g config.Group, t Target) (spec, error) {
	signals, metric := pushed(t.Signal), t.Signal
	if t.PerReplica {
		metric = t.Signal + "_per_instance"
		signals += fmt.Sprintf("%s: {expr: \"%s / max(ready, 1)\"}\n", metric, t.Signal)
	}
	v := t.Value
	policies := fmt.Sprintf(`- name: step-out
  step:
    signal: %[1]s
    threshold: %[2]s
    warmup: %[7]s
    steps:
      - {from: 0, to: %[3]s, adjust: 0}
      - {from: %[3]s, to: %[4]s, adjust: 1}
      - {from: %[4]s, to: %[5]s, adjust: 2}
      - {from: %[5]s, adjust: 3}
- name: step-in
  step:
    signal: %[1]s
    threshold: %[6]s
    warmup: %[7]s
    steps:
      - {to: 0, adjust: -1}
`, metric, num(v), num(0.1*v), num(0.2*v), num(0.4*v), num(0.8*v), dur(awsStepCooldown))
	return spec{
		min:      g.Capacity.Min,
		interval: awsPeriod,
		signals:  signals,
		policies: policies,
		behavior: fmt.Sprintf(`up: {window: 0s, limits: [], tolerance: 0}
down: {window: 0s, limits: [], tolerance: 0, cooldown: %s}
warmup: %s
missing: hold
`, dur(awsStepCooldown), dur(g.Lifecycle.Launch.Boot.D())),
	}, nil
}
