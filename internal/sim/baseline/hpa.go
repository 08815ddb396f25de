package baseline

import (
	"fmt"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// hpaSync is the HPA controller's default --horizontal-pod-autoscaler-sync-period.
const hpaSync = 15 * time.Second

// hpaBehavior is the HorizontalPodAutoscaler v2 default behavior: scale up
// by max(100%, 4 pods) per 15 s with no stabilization; scale down by 100%
// per 15 s after a 300 s stabilization window; tolerance 0.1 both ways.
const hpaBehavior = `up:
  window: 0s
  limits: [{count: 4, per: 15s}, {percent: 100, per: 15s}]
  select: max
  tolerance: 0.1
down:
  window: 300s
  limits: [{percent: 100, per: 15s}]
  select: max
  tolerance: 0.1
missing: hold
`

// hpa is Kubernetes' HorizontalPodAutoscaler (autoscaling/v2) at its
// defaults, per "Horizontal Pod Autoscaling" (kubernetes.io, Algorithm
// details and Default Behavior):
//
//   - desiredReplicas = ceil(currentReplicas × currentMetricValue ÷
//     desiredMetricValue), skipped while the ratio is within the tolerance
//     0.1 of 1;
//   - evaluated every 15 s (the controller manager's sync period);
//   - scale-up: no stabilization, at most max(100%, 4 pods) per 15 s;
//   - scale-down: 300 s stabilization window (the highest recommendation
//     of the last 5 minutes), at most 100% per 15 s;
//   - minReplicas ≥ 1: a group whose min is 0 gets 1.
//
// The metric is the workload's Target: a utilization as a per-pod
// (Resource or Pods) metric with an averageUtilization/averageValue target
// (ebb's target policy in hpa mode), or for queue workers the backlog as
// an External metric with an AverageValue target, which Kubernetes sizes as
// ceil(total ÷ target) after the same tolerance check on total ÷ (target ×
// currentReplicas) (ebb's queue policy).
//
// What ebb does not reproduce: the simulated workloads report group-level
// values, not per-pod ones, so the per-pod rules for pods not ready or
// missing a metric have nothing to act on; the CPU initialization period
// does not apply to a non-CPU metric.
func hpa(g config.Group, t Target) (spec, error) {
	return spec{
		min:      max(1, g.Capacity.Min),
		interval: hpaSync,
		signals:  pushed(t.Signal),
		policies: hpaPolicy("hpa", t, 0),
		behavior: hpaBehavior,
	}, nil
}

// hpaPolicy is the HPA replica calculation on t as one policy.
func hpaPolicy(name string, t Target, activation float64) string {
	if t.PerReplica {
		return fmt.Sprintf("- name: %s\n  queue: {signal: %s, per_instance: %s, activation: %s}\n",
			name, t.Signal, num(t.Value), num(activation))
	}
	return fmt.Sprintf("- name: %s\n  target: {signal: %s, value: %s, mode: hpa}\n", name, t.Signal, num(t.Value))
}
