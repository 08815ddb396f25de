// Package workload models the work an autoscaled group does, for the
// simulator: an arrival rate drives a model; the model puts the work on the
// instances it is given and reports the signals policies read; the engine's
// decisions change the instances, which changes what the model reports
// next.
//
// Models are pure and deterministic: no goroutines, no I/O, no clock (the
// driver passes the time to Step), and every random draw comes from a PCG
// seeded at construction. Boot delays and failed launches belong to the
// driver's fleet, not here.
//
// Kinds:
//
//   - Service: a request/response service, a fluid M/M/c.
//   - Queue: queue workers, k jobs at once each; jobs wait FIFO.
//   - Streaming: a streaming job that restarts on every rescale.
//   - OLAP: workers running heavy-tailed queries that hold memory; a
//     draining worker finishes its queries (graceful shutdown).
//   - Backend: wraps any of them with a rate-limited shared downstream
//     whose throttling gets worse as more instances call it.
//
// Work is conserved: Submitted = Completed + InFlight + Queued + Lost after
// every call. Work is lost only when an instance is Stopped while Busy.
//
// Instances: a Serving (and not Draining) instance takes new work; any other
// instance takes none but finishes what it holds, including one the driver
// no longer lists, until Stopped. Booting instances can be listed with
// neither flag or left out.
//
// Time: Step(now, dt, …) covers [now, now+dt); the step's arrivals come
// at its start, and Signals, Busy, Violating and Work describe now+dt.
//
// Cost: queue and olap count jobs rather than simulate each one: jobs that
// start together on one instance share a few service times drawn by
// stratified sampling, at most QueueConfig.Batches per instance, so a step
// costs O(batches ending in it) whatever the rate; below that budget every
// job has its own service time. Service and streaming are fluid
// (real-valued work).
package workload
