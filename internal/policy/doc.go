// Package policy holds ebb's scaling policies. Each turns signals and the
// group's current state into a recommended capacity and the reason for it:
//
//	target     desired = ceil(current × signal ÷ value), with an HPA-compatible mode
//	step       AWS step scaling: intervals relative to a threshold
//	simple     add or remove N when a condition holds for M of the last N datapoints
//	queue      desired = ceil(items ÷ per_instance), waking from zero
//	streaming  keep up with input and clear the backlog; shrink by CPU
//	schedule   cron windows that set min, max or desired
//	predictive desired = ceil(forecast ÷ per_instance), the forecast lead ahead
//	           from the signal's seasonal profile (hourly means over history)
//	fixed      always the same capacity
//
// Policies are pure functions of their Input. They never clamp to the group's
// min and max, apply rate limits or remember time: those are the engine's
// behavior stages. A policy that has nothing to say this tick abstains.
package policy
