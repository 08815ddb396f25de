package load

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// traceCSV is a flash crowd cut from /work/shared/traces/worldcup98-48h-1s.csv
// (FIFA World Cup 1998 web site, per-second rates from 1998-06-25 22:00):
// the 150 minutes from source t=57300 (16h55m in, a quiet ~515 req/s) to
// t=66300, through the rise to the peak (3,066 req/s at 2h03m) and the first
// third of the fall (~2,000 req/s at the end). Each row averages 60 source
// rows, and t is rebased to 0:
//
//	awk -F, 'NR>1 && $1>=57300 && $1<66300 {m=int(($1-57300)/60); s[m]+=$2}
//	  END {print "t,rate"; for (i=0; i<150; i++) printf "%d,%.1f\n", i*60, s[i]/60}' \
//	  worldcup98-48h-1s.csv
//
// Why 150 minutes, not 120: no two-hour window of the trace holds both a
// strong rise (over 5×) and a real fall; this one ends at two thirds of the
// peak, enough for scale-in to show.
//
//go:embed worldcup98-flash-1m.csv
var traceCSV []byte

// Point is one step of a rate curve: from T seconds on, Rate per second,
// until the next point's T.
type Point struct {
	T    float64
	Rate float64
}

var trace = sync.OnceValues(func() ([]Point, error) {
	return parseTrace("worldcup98-flash-1m.csv", bytes.NewReader(traceCSV))
})

// Trace returns the embedded flash crowd: 150 one-minute steps of requests
// per second, t in seconds from 0.
func Trace() []Point {
	pts, err := trace()
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return slices.Clone(pts)
}

// parseTrace reads a `t,rate` CSV: t strictly increasing from 0, rates
// finite and non-negative, at least two rows (the last row's length is the
// one before it).
func parseTrace(name string, r io.Reader) ([]Point, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	if strings.Join(header, ",") != "t,rate" {
		return nil, fmt.Errorf("%s:1: header is %q, want t,rate", name, strings.Join(header, ","))
	}
	var pts []Point
	var errs []error
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		t, errT := strconv.ParseFloat(rec[0], 64)
		rate, errR := strconv.ParseFloat(rec[1], 64)
		switch {
		case errT != nil || math.IsInf(t, 0) || math.IsNaN(t):
			errs = append(errs, fmt.Errorf("%s:%d: t %q is not a number of seconds", name, line, rec[0]))
		case len(pts) == 0 && t != 0:
			errs = append(errs, fmt.Errorf("%s:%d: t %v: the first row must be at t=0", name, line, t))
		case len(pts) > 0 && t <= pts[len(pts)-1].T:
			errs = append(errs, fmt.Errorf("%s:%d: t %v does not follow %v", name, line, t, pts[len(pts)-1].T))
		}
		if errR != nil || math.IsInf(rate, 0) || math.IsNaN(rate) || rate < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: rate %q is not a rate >= 0", name, line, rec[1]))
		}
		pts = append(pts, Point{T: t, Rate: rate})
	}
	if len(errs) == 0 && len(pts) < 2 {
		errs = append(errs, fmt.Errorf("%s: %d rows, want at least 2", name, len(pts)))
	}
	if len(errs) == 0 && slices.MaxFunc(pts, byRate).Rate == 0 {
		errs = append(errs, fmt.Errorf("%s: every rate is 0", name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pts, nil
}

func byRate(a, b Point) int { return cmp.Compare(a.Rate, b.Rate) }

// span returns where the curve ends: the last point plus the step before it.
func span(pts []Point) float64 {
	n := len(pts)
	return pts[n-1].T + (pts[n-1].T - pts[n-2].T)
}
