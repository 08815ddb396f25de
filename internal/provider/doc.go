// Package provider declares what ebb asks of the place where instances run,
// as one-method capabilities: a provider implements the ones it can, and
// callers detect the optional ones by type assertion.
//
// Contracts shared by every capability:
//
//   - Every call takes ctx first, returns promptly when ctx is done, and is
//     bounded even when ctx has no deadline.
//   - An instance is identified by everything the provider recorded about it
//     at launch (for local processes, the PID and the process start time), not
//     by a name alone: a provider never acts on something that merely reuses
//     an identifier, such as a recycled PID.
//   - A provider value holds no state that the instances depend on: a fresh
//     provider (after ebb restarts) adopts instances launched by an earlier one
//     from their recorded model.Instance alone.
//
// Implementations live in subpackages: local, an instance provider, and the
// capacity providers (kubernetes, aws, ecs, exec). The conformance suites
// they pass are instancetest (instance providers), capacitytest (capacity
// providers) and providertest (providers of processes on this machine).
package provider
