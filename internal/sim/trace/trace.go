package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Point is one step of a trace: from T on, requests arrive at Rate per
// second, until the next point's T.
type Point struct {
	T    time.Duration
	Rate float64
}

// Trace is an arrival-rate series over [0, Duration). Points start at 0, go
// strictly forward and have finite rates ≥ 0; the last point holds until
// Duration. A Trace is immutable: every transformation returns a new one.
type Trace struct {
	points []Point
	end    time.Duration
}

// maxErrors bounds how many row problems Read reports before it stops.
const maxErrors = 20

// Read parses a CSV with the header t,rate: t in seconds from the start
// (the first row at 0, then strictly increasing), rate a finite number ≥ 0
// of arrivals per second. The last row lasts as long as the row before it,
// so a trace needs two rows. Every problem is reported as name:line: …, and
// no trace is returned unless the whole file is clean.
func Read(name string, r io.Reader) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file: want the header t,rate", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(header) != 2 || strings.TrimSpace(header[0]) != "t" || strings.TrimSpace(header[1]) != "rate" {
		return nil, fmt.Errorf("%s:1: header is %q, want t,rate", name, strings.Join(header, ","))
	}
	var (
		pts  []Point
		errs []error
		prev = time.Duration(-1)
	)
	for len(errs) < maxErrors {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A csv.ParseError names its line; the reader cannot go on.
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			break
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 2 {
			errs = append(errs, fmt.Errorf("%s:%d: has %d fields, want 2 (t,rate)", name, line, len(rec)))
			continue
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0 || sec > maxSeconds {
			errs = append(errs, fmt.Errorf("%s:%d: t must be a number of seconds ≥ 0, not %q", name, line, rec[0]))
			continue
		}
		t := seconds(sec)
		switch {
		case prev < 0 && t != 0:
			errs = append(errs, fmt.Errorf("%s:%d: the first row must be at t=0 (the trace's start), not %s", name, line, rec[0]))
		case prev >= 0 && t <= prev:
			errs = append(errs, fmt.Errorf("%s:%d: t %s is not after the previous row's %v", name, line, rec[0], prev.Seconds()))
		}
		prev = max(prev, t)
		rate, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: rate must be a finite number ≥ 0, not %q", name, line, rec[1]))
			continue
		}
		pts = append(pts, Point{T: t, Rate: rate})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(pts) < 2 {
		return nil, fmt.Errorf("%s: %d rows after the header: a trace needs at least two, the last lasting as long as the one before", name, len(pts))
	}
	n := len(pts)
	return &Trace{points: pts, end: pts[n-1].T + (pts[n-1].T - pts[n-2].T)}, nil
}

// maxSeconds keeps t within time.Duration (about 292 years).
const maxSeconds = float64(math.MaxInt64/int64(time.Second)) / 2

// seconds converts seconds to a Duration, rounded to the nanosecond.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// Points returns a copy of the trace's points.
func (tr *Trace) Points() []Point { return append([]Point(nil), tr.points...) }

// Len is the number of points.
func (tr *Trace) Len() int { return len(tr.points) }

// Duration is the trace's length: the last point holds until then.
func (tr *Trace) Duration() time.Duration { return tr.end }

// RateAt is the rate in force at t. Before 0 it is the first point's rate;
// from Duration on, the last point's (a trace holds its last value). It
// searches in O(log n); a Cursor is O(1) amortized for increasing t.
func (tr *Trace) RateAt(t time.Duration) float64 {
	i := sort.Search(len(tr.points), func(i int) bool { return tr.points[i].T > t })
	return tr.points[max(i-1, 0)].Rate
}

// Peak is the highest rate.
func (tr *Trace) Peak() float64 {
	p := 0.0
	for _, pt := range tr.points {
		p = max(p, pt.Rate)
	}
	return p
}

// Mean is the time-weighted mean rate over [0, Duration): arrivals divided
// by the duration.
func (tr *Trace) Mean() float64 {
	if tr.end <= 0 {
		return tr.points[0].Rate
	}
	sum := 0.0
	for i, pt := range tr.points {
		next := tr.end
		if i+1 < len(tr.points) {
			next = tr.points[i+1].T
		}
		sum += pt.Rate * (next - pt.T).Seconds()
	}
	return sum / tr.end.Seconds()
}

// Cursor reads a trace at increasing times in O(1) amortized: it remembers
// where the last read was. Going back in time is allowed and costs a search.
// A Cursor is not safe for concurrent use; make one per reader. A copy of a
// Cursor is a cursor of its own, where the original was.
type Cursor struct {
	pts []Point
	i   int
	// The point at i holds over [from, until), at rate: a read within it
	// touches nothing else.
	from, until time.Duration
	rate        float64
}

// Cursor returns a cursor at the trace's start.
func (tr *Trace) Cursor() *Cursor { return &Cursor{pts: tr.points, from: 1} }

// At is the rate in force at t, as RateAt.
func (c *Cursor) At(t time.Duration) float64 {
	if t >= c.from && t < c.until {
		return c.rate
	}
	pts := c.pts
	if t < pts[c.i].T {
		i := sort.Search(c.i, func(i int) bool { return pts[i].T > t })
		c.i = max(i-1, 0)
	} else {
		for c.i+1 < len(pts) && pts[c.i+1].T <= t {
			c.i++
		}
	}
	c.from, c.until, c.rate = pts[c.i].T, time.Duration(math.MaxInt64), pts[c.i].Rate
	if c.i+1 < len(pts) {
		c.until = pts[c.i+1].T
	}
	return c.rate
}

// checkFactor validates a scaling or compression factor.
func checkFactor(what string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return fmt.Errorf("%s factor must be a finite number > 0, not %v", what, f)
	}
	return nil
}

// Scale returns the trace with every rate multiplied by f (> 0).
func (tr *Trace) Scale(f float64) (*Trace, error) {
	if err := checkFactor("scale", f); err != nil {
		return nil, err
	}
	pts := make([]Point, len(tr.points))
	for i, pt := range tr.points {
		pts[i] = Point{T: pt.T, Rate: pt.Rate * f}
		if math.IsInf(pts[i].Rate, 0) {
			return nil, fmt.Errorf("scale by %v: rate %v at %v overflows", f, pt.Rate, pt.T)
		}
	}
	return &Trace{points: pts, end: tr.end}, nil
}

// Compress returns the trace played f times faster (f > 0; f < 1 slows it
// down): the point at t moves to t/f, rates are unchanged. Points that
// would land on the same nanosecond are refused.
func (tr *Trace) Compress(f float64) (*Trace, error) {
	if err := checkFactor("compression", f); err != nil {
		return nil, err
	}
	if tr.end.Seconds()/f > maxSeconds {
		return nil, fmt.Errorf("compress by %v: a %v trace would last longer than %v s", f, tr.end, maxSeconds)
	}
	pts := make([]Point, len(tr.points))
	for i, pt := range tr.points {
		pts[i] = Point{T: time.Duration(math.Round(float64(pt.T) / f)), Rate: pt.Rate}
		if i > 0 && pts[i].T <= pts[i-1].T {
			return nil, fmt.Errorf("compress by %v: points at %v and %v would merge", f, tr.points[i-1].T, pt.T)
		}
	}
	return &Trace{points: pts, end: time.Duration(math.Round(float64(tr.end) / f))}, nil
}
