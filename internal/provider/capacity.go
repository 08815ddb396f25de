package provider

import (
	"context"
	"time"
)

// Capacity is a provider whose system owns the instances — a Kubernetes
// workload, an AWS Auto Scaling group, an ECS service, anything driven by
// commands (exec): ebb says how many there should be and which ones to
// remove; the system launches and removes them. ebb never fights a change
// someone else made: a desired count it did not set is taken as input.
//
// Contracts beyond the package's:
//
//   - Observe reads, never writes. Instances are listed as the system sees
//     them, each with an ID stable for its life (a Pod's name, an EC2
//     instance ID), its address when it has one, its zone, and its state:
//     model.Launching until the system says it is ready, model.InService
//     after, model.Terminating once the system is removing it.
//     The caller keeps the Observed's Instances only until its next call
//     of Observe: a provider may reuse that slice for the next answer.
//   - SetDesired sets the desired count and nothing else; setting what is
//     already set is success.
//   - Remove takes the named instances out and lowers the desired count by
//     as many, in one step as the system allows: instances already gone
//     are success, and the count drops for them too only if they were still
//     counted. It never removes another instance in their place (a
//     Kubernetes provider marks them to be deleted first before it lowers
//     replicas; an Auto Scaling group terminates them with decrement).
type Capacity interface {
	Observe(ctx context.Context) (Observed, error)
	SetDesired(ctx context.Context, n int) error
	Remove(ctx context.Context, victims []Victim) error
}

// Observed is a capacity provider's view of the group.
type Observed struct {
	// Desired is the system's desired count.
	Desired int
	// Instances are those the system runs or is starting, with their ID,
	// Addr, Zone, State and LaunchedAt set.
	Instances []Instance
	// Min and Max are the system's own bounds when it has them (an Auto
	// Scaling group's MinSize and MaxSize), else -1: ebb keeps its desired
	// count within them and says so.
	Min, Max int
}

// Instance is one instance as a capacity provider sees it.
type Instance struct {
	ID         string
	Addr       string // host:port ebb's probes and drains reach, when there is one
	Zone       string
	Ready      bool // the system counts it ready (a Pod's Ready condition, an InService ASG instance)
	Leaving    bool // the system is removing it (a Pod being deleted, a Terminating ASG instance)
	LaunchedAt time.Time
	// Protected is the system's own scale-in protection, when it has one.
	Protected bool
}

// Victim is an instance ebb removes.
type Victim struct {
	ID string
}

// Protector sets a capacity provider's own scale-in protection (an Auto
// Scaling group's instance protection), so that the system does not pick
// an instance ebb keeps.
type Protector interface {
	SetProtected(ctx context.Context, ids []string, protected bool) error
}

// Hooked is a capacity provider whose system asks before it removes an
// instance on its own (an Auto Scaling group's terminate lifecycle hook):
// Pending lists the instances waiting, which ebb drains like its own
// victims, heartbeating while the drain runs, then completes.
type Hooked interface {
	Pending(ctx context.Context) ([]string, error)
	Heartbeat(ctx context.Context, id string) error
	Complete(ctx context.Context, id string, result HookResult) error
}

// HookResult is how a lifecycle hook ends.
type HookResult int

const (
	// Continue lets the system go on with the removal.
	Continue HookResult = iota
	// Abandon tells the system to stop it (for an Auto Scaling group, the
	// instance is terminated anyway, but without further hooks).
	Abandon
)

// Picker is a capacity provider whose system decides which instances go on
// a scale-in (a StatefulSet removes its highest ordinals): ebb drains the
// ones it names instead of choosing by its selection rule.
type Picker interface {
	Pick(obs Observed, n int) []string
}

// Drainer is a capacity provider whose system drains instances itself (ECS
// container instances set to DRAINING move their tasks elsewhere): when
// Drains says so, the fleet asks it to drain each victim beside the
// group's own drain action, and waits while Busy says work remains there.
type Drainer interface {
	Drains() bool
	Drain(ctx context.Context, id string) error
	Busy(ctx context.Context, id string) (bool, error)
}

// Deadliner is a Hooked provider whose system gives up waiting on a hook at
// a time of its own (an Auto Scaling hook's global timeout: min(48 h,
// 100 × its heartbeat timeout)): the fleet lets the instance go before
// then, whatever the group's drain timeout.
type Deadliner interface {
	Deadline(id string) time.Time
}
