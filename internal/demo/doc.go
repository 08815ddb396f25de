// Package demo runs the whole of ebb on one machine with nothing installed:
// an embedded job queue, a load generator replaying a real traffic trace,
// worker processes (ebb itself, in worker mode) that ebb launches and
// drains, a live view, and a summary that counts every job.
package demo
