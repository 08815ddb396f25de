// Package load is the demo's load generator: it replays a real flash crowd,
// compressed in time and scaled in rate, as jobs submitted to the demo queue.
//
// The pipeline is pure up to the last step: Trace (the embedded curve) →
// Rates (compressed to Plan.Duration, peak scaled to Plan.PeakJobsPerSec) →
// Schedule (Poisson arrivals and exponential service times, deterministic
// for Plan.Seed) → Run (submits each job at its offset on an injected clock).
// FixedFleet is the baseline the demo compares autoscaling against.
package load
