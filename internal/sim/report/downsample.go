package report

import (
	"time"

	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
)

// MaxPoints bounds the points of a plotted line: a longer curve is cut into
// at most MaxPoints buckets of consecutive steps.
const MaxPoints = 2000

// Bucket is one point of a downsampled curve: steps [From, To) of the
// original, summarised as V.
type Bucket struct {
	From, To int
	V        float64
}

// Agg is how a bucket's steps are summarised.
type Agg int

const (
	// Max keeps a bucket's largest value, so spikes stay visible.
	Max Agg = iota
	// Mean keeps a bucket's average.
	Mean
)

// Downsample cuts v into min(len(v), n) buckets of consecutive steps, as
// even as integer division makes them, and summarises each by agg. n < 1
// is taken as 1.
func Downsample(v []float64, n int, agg Agg) []Bucket {
	n = max(min(n, len(v)), 1)
	if len(v) == 0 {
		return nil
	}
	out := make([]Bucket, n)
	for i := range n {
		from, to := i*len(v)/n, (i+1)*len(v)/n
		s := v[from]
		for _, x := range v[from+1 : to] {
			switch agg {
			case Max:
				s = max(s, x)
			case Mean:
				s += x
			}
		}
		if agg == Mean {
			s /= float64(to - from)
		}
		out[i] = Bucket{From: from, To: to, V: s}
	}
	return out
}

// flags is a violation curve as 0 and 1.
func flags(v []bool) []float64 {
	f := make([]float64, len(v))
	for i, b := range v {
		if b {
			f[i] = 1
		}
	}
	return f
}

// rateBuckets is the trace's arrival rate over n buckets of steps of step,
// each the largest rate in force during it: O(points + buckets), without
// sampling the trace at every step.
func rateBuckets(tr *trace.Trace, steps int, step time.Duration, n int) []Bucket {
	n = max(min(n, steps), 1)
	if steps == 0 {
		return nil
	}
	out := make([]Bucket, n)
	for i := range out {
		out[i] = Bucket{From: i * steps / n, To: (i + 1) * steps / n, V: -1}
	}
	// bucketOf is the bucket holding step k (k < steps).
	bucketOf := func(k int) int {
		b := k * n / steps
		for b+1 < n && out[b+1].From <= k {
			b++
		}
		for b > 0 && out[b].From > k {
			b--
		}
		return b
	}
	pts := tr.Points()
	for j, p := range pts {
		end := tr.Duration()
		if j+1 < len(pts) {
			end = pts[j+1].T
		}
		first := int(p.T / step)
		if first >= steps {
			break
		}
		// The point is in force on the steps whose start is in [T, end),
		// and on the step it starts inside.
		last := min(int((end-1)/step), steps-1)
		if end <= p.T {
			continue
		}
		for b := bucketOf(first); b < n && out[b].From <= last; b++ {
			out[b].V = max(out[b].V, p.Rate)
		}
	}
	for i := range out {
		out[i].V = max(out[i].V, 0)
	}
	return out
}
