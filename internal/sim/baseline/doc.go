// Package baseline holds the peer autoscalers `ebb simulate --compare`
// runs beside a group's own policy: Kubernetes' HorizontalPodAutoscaler,
// AWS target tracking, step scaling and predictive scaling, KEDA and the
// Flink Kubernetes operator's autoscaler.
//
// A baseline is not a second autoscaler. It is a configuration preset: a
// function that rewrites a group's signals, policies, behavior and
// interval into ebb's rendering of the other system's rules at that
// system's documented defaults, keeping the group's name, capacity
// bounds and lifecycle. The rewritten group then runs through ebb's own
// engine and fleet reconciler, closed loop, on the same trace, workload
// and seed as the group itself. Where ebb cannot express one of the other
// system's rules exactly, the preset's doc comment and docs/simulate.md
// ("Baselines") say what differs.
//
// Each preset sizes on the workload's utilization-like signal at a
// documented target (see Target): utilization 0.7 for a service, busy
// 0.7 for streaming and OLAP workers, and for queue workers a KEDA-style
// AverageValue of backlog (waiting plus running jobs) per replica equal
// to the jobs one worker runs at once. AWS predictive scaling also
// forecasts the workload's arrival rate, sized at the load one instance
// takes at that target (Target.LoadPerInstance).
//
// Sources, each cited again where it is used:
//   - Kubernetes, "Horizontal Pod Autoscaling" (algorithm details, default
//     behavior, tolerance, sync period):
//     https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
//   - AWS, "How target tracking scaling works" (Application Auto Scaling
//     user guide) and "Set the default instance warmup for an Auto Scaling
//     group" (Amazon EC2 Auto Scaling user guide);
//     StepScalingPolicyConfiguration (Application Auto Scaling API
//     reference) for step scaling's cooldown:
//     https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html
//     https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-default-instance-warmup.html
//     https://docs.aws.amazon.com/autoscaling/application/APIReference/API_StepScalingPolicyConfiguration.html
//   - AWS, "How predictive scaling works" (Amazon EC2 Auto Scaling user
//     guide); PredictiveScalingConfiguration and
//     PredictiveScalingMetricSpecification (Amazon EC2 Auto Scaling API
//     reference):
//     https://docs.aws.amazon.com/autoscaling/ec2/userguide/predictive-scaling-policy-overview.html
//     https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PredictiveScalingConfiguration.html
//     https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PredictiveScalingMetricSpecification.html
//   - KEDA, "ScaledObject specification":
//     https://keda.sh/docs/latest/reference/scaledobject-spec/
//   - Apache Flink Kubernetes operator, "Autoscaler" and its configuration
//     reference (docs/layouts/shortcodes/generated/auto_scaler_configuration.html),
//     and AutoScalerUtils.getTargetProcessingCapacity in flink-autoscaler:
//     https://nightlies.apache.org/flink/flink-kubernetes-operator-docs-main/docs/custom-resource/autoscaler/
package baseline
