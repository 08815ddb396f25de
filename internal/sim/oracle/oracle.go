// Package oracle computes the cheapest fleet that meets a demand curve with
// perfect foresight, given a boot delay: the bound that ebb's policies are
// measured against in the simulator. It is pure and O(n) in the number of
// steps, whatever the peak demand.
package oracle

import (
	"fmt"
	"time"
)

// Plan is the oracle's fleet, per step of the demand curve.
type Plan struct {
	Step          time.Duration
	BootSteps     int64   // the boot delay in steps, rounded up
	Running       []int   // instances billed: ready or booting
	Ready         []int   // instances ready to serve; Ready[t] ≥ demand[t]
	InstanceHours float64 // Σ Running·Step, in hours
}

// Solve returns the cheapest running and ready curves that have demand[t]
// instances ready at every step t, when an instance launched at step t is
// billed from t and ready from t+B, B being boot in steps (rounded up).
//
// The run covers steps [0, n). Launches may happen before 0 and only steps
// inside the run are billed: instances needed at t=0 are warm, and one first
// needed at s < B is billed from 0. After its last demand an instance stops
// at once (the oracle has no work to drain).
//
// The rule, per capacity level. Demand decomposes into levels k = 1..max d:
// level k is needed on L_k = {t : d(t) ≥ k}. Its instance is launched B
// steps before L_k's first interval; between two intervals with a gap of g
// steps it is kept (cost g) if g ≤ B, else stopped and relaunched B steps
// before the next (cost B). So it runs on U_k = {u ≥ 0 : u ∈ [t−B, t] for
// some t ∈ L_k}.
//
// Why this is the global optimum. Lower bound: an instance ready at t was
// launched at or before t−B and has run ever since, so a fleet with at least
// k instances ready at t has at least k running at every step of [t−B, t];
// hence any feasible fleet has running(u) ≥ k on all of U_k, and its cost
// Σ_u running(u) = Σ_k |{u : running(u) ≥ k}| ≥ Σ_k |U_k|. Achievability:
// the per-level instances cost exactly Σ_k |U_k| and are feasible, since
// each maximal run of U_k begins B steps before a step of L_k (or at 0) and
// ends on one. Instances being interchangeable, stacking the levels loses
// nothing.
//
// Computing it. The L_k are nested, so the U_k are too, and running(u) =
// #{k : u ∈ U_k} = max d over [u, u+B]: a sliding-window maximum, O(n).
// Level k is ready at t when its instance has met a demand step since its
// current run began, which gives ready(t) = min(running(t), max(d(t),
// ready(t−1))).
func Solve(demand []int, step, boot time.Duration) (Plan, error) {
	switch {
	case step <= 0:
		return Plan{}, fmt.Errorf("step must be > 0, not %v", step)
	case boot < 0:
		return Plan{}, fmt.Errorf("boot delay must be ≥ 0, not %v", boot)
	}
	for t, d := range demand {
		if d < 0 {
			return Plan{}, fmt.Errorf("demand at step %d is %d: it must be ≥ 0", t, d)
		}
	}
	n := len(demand)
	boots := int64(boot / step)
	if boot%step != 0 {
		boots++
	}
	p := Plan{Step: step, BootSteps: boots, Running: make([]int, n), Ready: make([]int, n)}
	// A boot longer than the run looks to its end either way; clamping keeps
	// t+b from overflowing.
	b := int(min(boots, int64(n)))

	// Sliding maximum over [t, t+b], right to left: dq holds indices in the
	// window with strictly decreasing demand, the maximum in front.
	dq := make([]int, 0, min(n, b+1))
	head := 0
	var total int64
	for t := n - 1; t >= 0; t-- {
		for len(dq) > head && demand[dq[len(dq)-1]] <= demand[t] {
			dq = dq[:len(dq)-1]
		}
		dq = append(dq, t)
		for dq[head] > t+b {
			head++
		}
		p.Running[t] = demand[dq[head]]
		total += int64(p.Running[t])
		// Keep the deque's storage bounded by the window.
		if head > b && head > len(dq)/2 {
			dq = append(dq[:0], dq[head:]...)
			head = 0
		}
	}
	ready := 0
	for t, d := range demand {
		ready = min(p.Running[t], max(d, ready))
		p.Ready[t] = ready
	}
	p.InstanceHours = float64(total) * step.Hours()
	return p, nil
}
