package model

import "time"

// InstanceState is where an instance is in its lifecycle:
//
//	pending → launching → in_service → draining → terminating → terminated
//	              │            │
//	              └─ failed    └─ unhealthy → (replaced) → terminating
//
// Every transition is written to the store before it is acted on.
type InstanceState string

// Instance states.
const (
	// Pending: the launch is recorded (an intent) but not yet made.
	Pending InstanceState = "pending"
	// Launching: the provider started it; it is not ready yet and does not
	// count as capacity.
	Launching InstanceState = "launching"
	// InService: ready; counts as capacity.
	InService InstanceState = "in_service"
	// Draining: asked to finish its work; waiting while it is busy.
	Draining InstanceState = "draining"
	// Terminating: being stopped.
	Terminating InstanceState = "terminating"
	// Terminated: gone. Kept for a while for the record.
	Terminated InstanceState = "terminated"
	// Failed: a launch that did not become ready in time; it is stopped
	// and retried with backoff.
	Failed InstanceState = "failed"
	// Unhealthy: failed its health checks or its process exited; it is
	// replaced.
	Unhealthy InstanceState = "unhealthy"
)

// Active reports whether an instance in this state is, or is becoming,
// capacity: launches count against desired so they are not repeated.
func (s InstanceState) Active() bool {
	return s == Pending || s == Launching || s == InService
}

// Gone reports whether the instance no longer runs.
func (s InstanceState) Gone() bool { return s == Terminated }

// Process identifies a local process across restarts of ebb: a PID alone
// can be reused by another process, the start time (clock ticks since
// boot, /proc/PID/stat field 22) tells them apart.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// Instance is one member of a group, as ebb records it.
type Instance struct {
	ID        string        `json:"id"`
	Group     string        `json:"group"`
	Zone      string        `json:"zone,omitempty"`
	Addr      string        `json:"addr,omitempty"` // host:port
	State     InstanceState `json:"state"`
	Protected bool          `json:"protected,omitempty"`
	// Process is set by providers that run local processes.
	Process *Process `json:"process,omitempty"`

	LaunchedAt  time.Time `json:"launched_at"`
	ReadyAt     time.Time `json:"ready_at,omitzero"`
	StateSince  time.Time `json:"state_since"`
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	// Reason says why the instance entered its state ("scale-in: oldest",
	// "launch not ready within 2m", "process exited").
	Reason string `json:"reason,omitempty"`
	// Condition is what is going wrong with the instance right now, if
	// anything: the last error of an action being retried and when the
	// next try is ("drain request failed 3 times (last: …); next try after
	// …"). Empty once the action succeeds.
	Condition string `json:"condition,omitempty"`
}
