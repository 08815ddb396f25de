package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A timeline holds what a plain slice trimmed from the front holds, through
// any mix of adds, trims and resets, and finds the least and greatest
// value after a time as a scan of that slice does: times in order or not,
// with a monotonic clock reading or without (the daemon's clock has one,
// times restored from the store do not).
func TestTimelineMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now() // with a monotonic reading
	var l timeline
	var want []timedValue
	at := func(d time.Duration, mono bool) time.Time {
		if mono {
			return base.Add(d)
		}
		// The wall clock was set back 90 s: a time without a monotonic
		// reading compares with one that has it by their wall readings.
		return base.Round(0).Add(d - 90*time.Second)
	}
	now := time.Duration(0)
	mixed := false
	for k := range 50000 {
		if k%5000 == 0 {
			mixed = !mixed
		}
		switch op := rng.IntN(100); {
		case op < 1:
			l.reset()
			want = want[:0]
		case op < 60:
			d := now
			if rng.IntN(20) == 0 { // now and then one out of order
				d -= time.Duration(rng.IntN(120)) * time.Second
			}
			x := timedValue{t: at(d, !mixed || rng.IntN(10) > 0), v: rng.IntN(100)}
			l.add(x)
			want = append(want, x)
		default:
			keep := time.Duration(rng.IntN(600)) * time.Second
			l.trim(at(now, true), keep)
			cut := 0
			for cut < len(want) && at(now, true).Sub(want[cut].t) > keep {
				cut++
			}
			want = want[cut:]
		}
		if !slices.Equal(l.all(), want) {
			t.Fatalf("step %d: timeline %v, want %v", k, l.all(), want)
		}
		start := at(now-time.Duration(rng.IntN(400))*time.Second, rng.IntN(4) > 0)
		lo, hi := 50, 50
		for _, x := range want {
			if x.t.After(start) {
				lo, hi = min(lo, x.v), max(hi, x.v)
			}
		}
		if got := l.minAfter(start, 50); got != lo {
			t.Fatalf("step %d: minAfter %d, want %d", k, got, lo)
		}
		if got := l.maxAfter(start, 50); got != hi {
			t.Fatalf("step %d: maxAfter %d, want %d", k, got, hi)
		}
		now += time.Duration(rng.IntN(30)) * time.Second
	}
}
