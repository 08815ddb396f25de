package provider

import (
	"context"
	"errors"
	"syscall"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// ErrGone reports that an instance no longer runs. Callers branch on it with
// errors.Is.
var ErrGone = errors.New("instance is gone")

// LaunchRequest names the instance to start. The caller chooses the ID (so a
// recorded launch intent can be matched with what the provider started).
type LaunchRequest struct {
	ID    string
	Group string
	Zone  string
}

// Launcher starts instances.
type Launcher interface {
	// Launch starts one instance and returns it with ID, Group, Zone, Addr,
	// provider-specific identity (Process for local processes) and State
	// model.Launching. LaunchedAt and the other bookkeeping times are left
	// for the caller. When Launch returns an error, nothing was left running.
	Launch(ctx context.Context, req LaunchRequest) (model.Instance, error)
}

// Terminator stops instances.
type Terminator interface {
	// Terminate stops the instance and returns once it no longer runs. It is
	// idempotent: an instance that is already gone, or was never running, is
	// success. It never stops anything but this very instance.
	Terminate(ctx context.Context, inst model.Instance) error
}

// Checker tells whether instances still run.
type Checker interface {
	// Alive reports whether this very instance still runs: false, not an
	// error, when it has exited or its identifier now names something else.
	// An error means the question could not be answered (the instance lacks
	// what the provider needs to identify it, or ctx is done).
	Alive(ctx context.Context, inst model.Instance) (bool, error)
}

// Signaler delivers signals to instances.
type Signaler interface {
	// Signal sends sig to the instance (for local processes, to its whole
	// process group). It returns an error wrapping ErrGone when the instance
	// no longer runs, and then sends nothing.
	Signal(ctx context.Context, inst model.Instance, sig syscall.Signal) error
}

// Immediate is a provider whose every call answers at once from memory,
// sending nothing and waiting on nothing (the simulator's system): a call
// to it cannot hang, so a caller need not bound it with a timer of its
// own. It still returns at once with ctx's error when ctx is done.
type Immediate interface {
	// Immediate reports whether every call answers at once.
	Immediate() bool
}
