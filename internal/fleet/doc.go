// Package fleet keeps a group's instances at the engine's desired capacity
// without losing work: it launches in bounded batches, counts an instance as
// capacity only once it is ready, drains before it terminates, replaces what
// fails, and records every intent in the store before acting on it so a
// restarted ebb resumes — and never repeats — what was in progress.
//
// Instance lifecycle (model.InstanceState):
//
//	pending ──launch──► launching ──ready──► in_service ──scale-in──► draining
//	   │                 │   │                   │                       │
//	   │ refused   exited│   │ not ready  exited │ health       idle/gone│ timeout
//	   │                 │   │ in time           ▼                       ▼
//	   │                 │   ▼               unhealthy ──────────► terminating ──► terminated
//	   │                 │ terminating (stopped first)
//	   ▼                 ▼   ▼
//	   └──────────────► failed
//
// Terminated and failed are the ended states (model.InstanceState.Ended):
// nothing runs, nothing counts, and the record is deleted after
// Options.KeepTerminated (looked for at most once a minute).
//
// A Reconciler is driven by its caller: each Reconcile call looks at every
// instance once and makes at most a bounded number of provider calls, each
// under its own timeout, so a hung provider cannot stall the caller for
// long. It keeps its group's instance records and open intents between
// reconciles, read from the store at its first use and written through
// (records.go), reads the group's state (its suspension) from the store
// only when it may have changed (store.Store.StateVersion), and opens a
// write transaction only for what changes, so a group with nothing to do
// costs no write and reads nothing; Status.Settled tells the caller it may
// come back less often.
package fleet
