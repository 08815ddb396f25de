// Package daemon is ebb's composition root for `ebb run`: it loads the
// configuration, opens the store, and wires sources → engine → fleet for
// every group, with the HTTP API beside them.
//
// Two kinds of loops run:
//
//   - one decision loop: each tick it reads the signals of the groups that
//     are due (concurrently, each read bounded by a timeout), runs the
//     engine for all of them at once (budgets span groups), and records
//     each decision, the group's memory and its signal values in the store
//     in one transaction (a hold that repeats the group's last recorded
//     decision is recorded once per repeatJournal, not at every interval);
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
