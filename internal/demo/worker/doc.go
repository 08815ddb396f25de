// Package worker is the demo's worker process, run by `ebb worker`: it takes
// jobs from the demo queue (package queue) over HTTP, "works" on each by
// waiting its service time divided by Speed, and reports it done.
//
// Lifecycle, as the autoscaler sees it:
//
//	       Run
//	        │
//	        ▼
//	┌──► taking ──(job)──► working ──► reporting done ─┐
//	│   (long poll)                   (retried)        │
//	└──────────────────────────────────────────────────┘
//	        │ Drain closed: stop taking; a job in hand is
//	        │ still worked and reported; then release
//	        ▼ anything the queue thinks we hold
//	  return nil
//
// Cancelling Run's ctx is a hard stop: Run returns at once, abandoning any
// job in hand to whoever releases it, as a killed process would. Nothing
// else makes a worker give up a job: a queue that cannot be reached is
// retried with capped exponential backoff and jitter (seeded, logged).
//
// While Run runs, Listen serves /healthz, /metrics (Prometheus text:
// ebb_worker_busy, ebb_worker_in_flight, ebb_worker_jobs_done_total,
// ebb_worker_draining) and /v1/busy ({"busy":…,"draining":…}), the busy
// probe a drain waits on.
package worker
