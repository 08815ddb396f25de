// Package report writes the report of a closed-loop simulation into a
// directory: report.md, with the run's parameters, the comparison table
// (the columns of `ebb simulate`'s text output) and links to four PNG plots
// made with gonum.org/v1/plot: demand against each policy's ready supply,
// each policy's running (billed) instances, the SLO violations over time
// per policy, and the trace's arrival rate.
//
// It is pure: it reads only its Input and writes only into the directory.
// The Markdown is byte-stable (same input, same bytes); the PNGs have fixed
// dimensions (Width × Height pixels) but their bytes may change with the
// plotting library.
//
// Long runs are downsampled before plotting, to at most MaxPoints buckets of
// consecutive steps per line. Demand, ready and running instances and the
// arrival rate keep each bucket's maximum, so a one-step spike stays
// visible; the violation plot shades, per bucket, the fraction of steps in
// violation, and lightly the whole bucket when any step in it violated.
package report
