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
//   - Remove: DescribeTasks of the victims; for those that are this
//     service's tasks and still meant to run, DescribeServices and
//     UpdateService desiredCount lowered by their number, then StopTask
//     each (reason "ebb scale-in"). Lowering first keeps the scheduler
//     from replacing them; see Provider.Remove for the window left.
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
