// Package daemon is ebb's composition root for `ebb run`: it loads the
// configuration, opens the store, and wires sources → engine → fleet for
// every group, with the HTTP API beside them.
//
// Two kinds of loops run:
//
//   - one decision loop: each tick it starts the reads of groups due within
//     a tick (each group's reads on their own, bounded by its interval, so a
//     hanging source delays only its group), decides every due group whose
//     reads have ended (budgets span groups), and records the decisions,
//     the groups' memory and signal values in one store transaction,
//     written outside the daemon's lock. A hold that repeats the outcome of
//     the group's newest journal entry is coalesced into it (a count and a
//     last time), and written once per persistEvery;
//   - one reconcile loop per group with a provider: it moves the group's
//     instances toward the decided capacity, every ReconcileEvery while
//     something is in flight and every IdleEvery once the group is settled
//     (woken at once by a change of desired or an operator's action). A
//     slow provider stalls only its own group.
//
// On SIGHUP or a change of the file the configuration is reloaded; an
// invalid file is logged and the running configuration kept. When ctx is
// cancelled (SIGTERM), Run stops deciding and returns, leaving instances
// running for the next ebb to adopt.
package daemon
