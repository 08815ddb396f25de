package baseline

import (
	"fmt"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// The Flink Kubernetes operator autoscaler's defaults (configuration
// reference, job.autoscaler.*).
const (
	flinkTargetUtil   = 0.7              // target.utilization
	flinkBoundary     = 0.3              // target.utilization.boundary (utilization.max/min = target ± 0.3)
	flinkCatchUp      = 30 * time.Minute // catch-up.duration
	flinkRestart      = 5 * time.Minute  // restart.time
	flinkWindow       = 15 * time.Minute // metrics.window
	flinkStabilize    = 5 * time.Minute  // stabilization.interval
	flinkScaleDownGap = time.Hour        // scale-down.interval (formerly scale-up.grace-period)
	flinkDownFactor   = 0.6              // scale-down.max-factor
	flinkInterval     = time.Minute      // kubernetes.operator.reconcile.interval
)

// flink is the Flink Kubernetes operator's job autoscaler at its defaults,
// for the streaming workload (one job vertex: the workers), per the
// operator's "Autoscaler" page, its configuration reference and
// AutoScalerUtils.getTargetProcessingCapacity:
//
//	target capacity = lag ÷ catch-up + input rate × restart ÷ catch-up + input rate ÷ target utilization
//	parallelism     = ceil(current parallelism × target capacity ÷ true processing rate)
//
// where the true processing rate is what the job would process fully busy,
// records per second ÷ (busyTimeMsPerSecond ÷ 1000), and the input rate is
// averaged over the metrics window (15 min); catch-up 30 min, restart
// 5 min, target utilization 0.7. The job is left alone while its
// utilization is within target ± 0.3; it is not rescaled within 5 min of a
// rescale (stabilization), a scale-down takes the largest parallelism
// wanted within the last hour (scale-down interval 1 h), and removes at
// most 60% of the parallelism (scale-down max factor 0.6).
//
// In ebb: a queue policy with per_instance 1 on a derived signal that is
// the formula (true processing rate per worker = throughput ÷ busy ÷
// ready), tolerance 0.3 ÷ 0.7 both ways, up and down cooldowns 5 min,
// down.window 1 h, a scale-down limit of 60% per evaluation, no scale-up
// limit (one rescale, not several).
//
// What ebb does not reproduce: the boundary is a tolerance on the ratio of
// wanted to current parallelism, exact for the input-rate term and
// approximate once there is a backlog; Flink stops collecting metrics
// during the stabilization interval and starts a new window after each
// rescale, where ebb's 15-minute average spans rescales; the up cooldown
// follows scale-ups only; parallelism is not rounded to a divisor of the
// job's max parallelism.
func flink(g config.Group, _ Target) (spec, error) {
	catchUp, restart := flinkCatchUp.Seconds(), flinkRestart.Seconds()
	signals := pushed("input_rate", "throughput", "backlog", "busy") + fmt.Sprintf(
		"flink_input: {expr: \"avg(input_rate)\", window: %s}\n"+
			"flink_parallelism: {expr: \"(backlog / %s + flink_input * %s / %s + flink_input / %s) / (throughput / busy / ready)\"}\n",
		dur(flinkWindow), num(catchUp), num(restart), num(catchUp), num(flinkTargetUtil))
	tol := flinkBoundary / flinkTargetUtil
	return spec{
		min:      max(1, g.Capacity.Min),
		interval: flinkInterval,
		signals:  signals,
		policies: "- name: flink\n  queue: {signal: flink_parallelism, per_instance: 1}\n",
		behavior: fmt.Sprintf(`up: {window: 0s, limits: [], tolerance: %[1]s, cooldown: %[2]s}
down: {window: %[3]s, limits: [{percent: %[4]s, per: %[5]s}], tolerance: %[1]s, cooldown: %[2]s}
missing: hold
`, num(tol), dur(flinkStabilize), dur(flinkScaleDownGap), num(100*flinkDownFactor), dur(flinkInterval)),
	}, nil
}
