// Package ecs is the ecs provider kind: an Amazon ECS service whose
// desired count ebb sets. The service scheduler starts and stops tasks;
// ebb names the ones to remove, drained first.
//
// Calls, each under the group's limits (a client-side rate limiter, a
// timeout per call, throttling and 5xx retried with exponential backoff and
// full jitter within tries; the SDK's own retries are off):
//
//   - Observe: DescribeServices (the desired count), ListTasks (desired
//     status RUNNING, 100 a page) and DescribeTasks (100 a call). An
//     instance is a task: its ID (the last part of its ARN), Ready when
//     RUNNING, Leaving once its desired status is STOPPED, its zone, its
//     creation time, and with port its ENI's private IP and that port
//     (awsvpc network mode). Min and Max are -1: a service has none.
//   - SetDesired: UpdateService desiredCount.
//   - Remove: ListTasks (the service's running tasks; victims not among
//     them are left alone), GetTaskProtection (100 a call),
//     UpdateTaskProtection on (10 a call) for the tasks kept, off for the
//     victims protected by themselves, DescribeServices and UpdateService
//     desiredCount lowered by the victims' number, StopTask each victim
//     (reason "ebb scale-in"), and UpdateTaskProtection off again for the
//     kept tasks that had no protection before. See Provider.Remove.
//
// Why Remove protects the tasks it keeps. Lowering desiredCount lets the
// service scheduler stop tasks of its own choosing to meet it; stopping a
// task first makes the scheduler replace it. With every task but the
// victims protected from scale-in while the count drops, the scheduler can
// only take the victims, whichever of it and StopTask is first. That is
// Remove's own contract (it never removes another instance in the
// victims' place), so it is kept inside Remove.
//
// Why the provider is not a provider.Protector. The fleet mirrors `ebb
// protect` (an operator's, held until undone) through Protector, but an
// ECS task's protection expires within 48 hours at most, and tasks set and
// clear their own through the ECS agent's endpoint while they work (a
// queue worker guarding a job), which a mirror would overwrite. So ebb's
// own protection of an instance stays ebb's (its scale-ins never pick it)
// and Observe does not read ECS's (Instance.Protected is false): a task
// protecting itself for a minute is not an operator's hold.
//
// A worked example:
//
//	groups:
//	  - name: api
//	    capacity: {min: 2, max: 30}
//	    signals:
//	      rps: {source: prom, prometheus: {query: 'sum(rate(http_requests_total{service="api"}[1m]))'}}
//	    policies:
//	      - queue: {signal: rps, per_instance: 200}
//	    provider:
//	      ecs:
//	        region: eu-west-1
//	        cluster: prod
//	        service: "{{.Group}}-svc"
//	        port: 8080
package ecs
