// Package local runs a group's instances as processes on this machine.
//
// Each instance is started in its own session (setsid), so it is the leader
// of its own process group, has no controlling terminal and outlives ebb:
// when ebb crashes and restarts, a fresh Provider adopts the running
// instances from their recorded model.Process. Stdin is /dev/null; stdout and
// stderr are appended to LOG_DIR/GROUP/ID.log.
//
// A process is identified by its PID and its start time (clock ticks since
// boot, field 22 of /proc/PID/stat). Every call on an instance first checks
// both against /proc, so ebb never signals a process that merely reused the
// PID. Signals go to the process group (-PID), so the children of a shell
// wrapper get them too. One race is left: the instance could exit and its PID be reused by a
// new session leader between the check and kill(2); the window is a few
// microseconds and needs a PID wrap-around inside it.
//
// Terminate sends SIGTERM to the group, waits up to Grace for the leader to
// be gone, then sends SIGKILL and waits again (bounded). It looks at the
// leader only: group members that outlive their leader are not chased, since
// once the leader is gone the group ID may be reused.
//
// This package works on Linux only (it reads /proc).
package local
