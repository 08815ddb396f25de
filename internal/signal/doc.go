// Package signal holds what the engine knows about a group's signals between
// ticks: recent samples of each signal (Series) and derived signals computed
// by an expression over other signals (Expr).
//
// Expressions use github.com/expr-lang/expr. Besides its operators and
// builtins (max, min, abs, ceil, floor, …) three window functions read a
// signal's recent history rather than its current value:
//
//	rate(x)   per-second increase of a counter over the window, resets handled
//	deriv(x)  per-second growth: the least-squares slope over the window
//	avg(x)    mean over the window
//
// Each takes an optional window as a second argument, avg(cpu, "5m");
// otherwise the derived signal's window applies. The name ready reads how
// many instances are serving, so a total becomes a per-instance value:
// "requests / ready".
package signal
