// Package engine is ebb's decision path: signals in, a decided capacity and
// its explanation out. It is pure: no I/O, no goroutines, no clock; time comes
// in with each Observation. The daemon, the simulator and the tests all run
// this same code.
//
// One evaluation of a group goes through these stages, in order; each stage
// that changes the number records a Step in the Decision, and the last such
// step is the limit that bound the result:
//
//	signals        latest samples, per-instance aggregation (warm-up applied),
//	               staleness, treat_as substitution, derived expressions
//	policies       each policy recommends or abstains; a policy whose signal
//	               is missing (or that cannot compute) follows the missing mode:
//	               hold | scale_out | treat_as | fallback
//	combine        scale out to the largest recommendation; scale in only when
//	               every policy with an opinion agrees, to the largest of theirs,
//	               and a reactive policy (not only a forecast) asks for it
//	datapoints     a direction is taken only when M of the last N evaluations
//	               recommended it
//	stabilization  up: the lowest recommendation of the up window;
//	               down: the highest of the down window (the HPA rule)
//	rate limits    count and percent per period per direction, select
//	               max | min | disabled (the HPA rule)
//	cooldowns      up: since the last scale-out; down: since any scaling
//	guards         a downstream signal above its threshold freezes or caps
//	               scale-out; so does a scale-out judged ineffective (it
//	               did not raise the throughput signal: effectiveness.go)
//	clamps         capacity min/max, replaced by open schedule windows
//	budgets        (Engine only) limits shared by several groups cap scale-out
//
// Evaluate computes a Decision without changing what the group remembers of
// past scaling; Commit records the decision once it is final. Engine.Step does
// both, with budgets in between.
package engine
