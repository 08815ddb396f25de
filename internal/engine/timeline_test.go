package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A timeline holds what a plain slice trimmed from the front holds, through
// any mix of adds, trims and resets.
func TestTimelineMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var l timeline
	var want []timedValue
	now := t0
	for k := range 20000 {
		switch op := rng.IntN(100); {
		case op < 1:
			l.reset()
			want = want[:0]
		case op < 60:
			x := timedValue{t: now, v: k}
			if rng.IntN(10) == 0 { // now and then one out of order
				x.t = now.Add(-time.Duration(rng.IntN(120)) * time.Second)
			}
			l.add(x)
			want = append(want, x)
		default:
			keep := time.Duration(rng.IntN(600)) * time.Second
			l.trim(now, keep)
			cut := 0
			for cut < len(want) && now.Sub(want[cut].t) > keep {
				cut++
			}
			want = want[cut:]
		}
		if !slices.Equal(l.all(), want) {
			t.Fatalf("step %d: timeline %v, want %v", k, l.all(), want)
		}
		now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
	}
}
