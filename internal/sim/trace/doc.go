// Package trace holds arrival-rate traces for the simulator: a rate per
// second that steps at each point and holds until the next, read from a
// t,rate CSV or built by seeded generators, then scaled, compressed in time
// and combined. It is pure: no I/O beyond the io.Reader given to Read, no
// goroutines, no clock; the same seed gives the same trace.
package trace
