// Package measure scores a simulated run: cost, SLO violations and the SPEC
// Research Group's elasticity metrics, as pure functions of curves sampled
// on a fixed step. Curves are in instances; a value holds for its whole step.
package measure
