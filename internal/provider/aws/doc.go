// Package aws is the aws provider kind: an EC2 Auto Scaling group whose
// desired capacity ebb sets. The group launches and terminates the
// instances; ebb names the ones to remove, drained first.
//
// Calls, each under the group's limits (a client-side rate limiter, a
// timeout per call, throttling and 5xx retried with exponential backoff and
// full jitter within tries; the SDK's own retries are off):
//
//   - Observe: DescribeAutoScalingGroups, one call. Ready is InService;
//     Leaving is Terminating* or Detaching*. Zone is the instance's
//     availability zone, Protected its scale-in protection. With port > 0
//     it then calls EC2's DescribeInstances for the group's instance IDs,
//     1000 a call: Addr is PrivateIpAddress:port and LaunchedAt is
//     LaunchTime. EC2's reads lag a launch: an ID it does not know yet
//     (InvalidInstanceID.NotFound, which fails the whole call) is dropped
//     and the call made again without it, so that instance has no Addr
//     until a later observe. Without port no EC2 call is made: Addr is
//     empty and LaunchedAt is when this provider first saw the instance (a
//     restarted ebb sees them all anew). An EC2 error that outlasts the
//     tries fails the observe, as a DescribeAutoScalingGroups error does.
//   - SetDesired: SetDesiredCapacity, HonorCooldown false.
//   - Remove: DescribeAutoScalingGroups, then per victim
//     TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity
//     true, so nothing replaces it. The read comes first because that call
//     names an instance, not a group: an ID that is not this group's, or is
//     terminating already, is skipped; "not found" is success.
//   - SetProtected (provider.Protector): SetInstanceProtection, 50 IDs a call.
//   - With lifecycle_hook (provider.Hooked): Pending checks the hook once
//     (DescribeLifecycleHooks; PutLifecycleHook with create: true) and
//     lists instances in Terminating:Wait; Heartbeat is
//     RecordLifecycleActionHeartbeat; Complete is CompleteLifecycleAction,
//     by instance ID. Deadline(id) bounds a hooked drain.
//   - With ecs_cluster: DrainContainerInstance (ListContainerInstances once
//     per instance, then UpdateContainerInstancesState DRAINING) and Busy
//     (DescribeContainerInstances: running + pending tasks > 0).
//
// A worked example, a group of ECS container instances whose own
// terminations (AZ rebalance, an operator's terminate) wait for ebb:
//
//	groups:
//	  - name: workers
//	    capacity: {max: 40}
//	    signals:
//	      backlog: {source: queues, sqs: {queue: "{{.Group}}-jobs"}}
//	    policies:
//	      - queue: {signal: backlog, per_instance: 20}
//	    provider:
//	      aws:
//	        region: eu-west-1
//	        auto_scaling_group: "ecs-{{.Group}}"
//	        lifecycle_hook: {create: true, heartbeat_timeout: 300s}
//	        ecs_cluster: prod
//
// The EC2 client is made only with port; ec2_endpoint points it elsewhere
// than endpoint (an emulator, a VPC endpoint). Its calls share the
// group's rate limiter and tries with the Auto Scaling ones.
//
// The package is stateless but for what it learns while running (first
// sight times, when a hook action was first seen, container-instance
// ARNs): a fresh provider relearns them.
package aws
