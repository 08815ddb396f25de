package sim

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkStep is one 15-second step of a system of 20 instances that
// boot for a minute, some failing, as the closed-loop simulator steps it:
// Step, then Each and Running. The count moves every few minutes.
func BenchmarkStep(b *testing.B) {
	clk := &fakeNow{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	s, err := New(Infra{Boot: time.Minute, BootJitter: 0.3, LaunchFailure: 0.02}, "i-", clk.now, rand.New(rand.NewPCG(1, 2)), &noWork{})
	if err != nil {
		b.Fatal(err)
	}
	s.Warm(20)
	serving := 0
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if k%16 == 0 {
			s.desired = 18 + k/16%5 // as SetDesired, without its throttle draw
		}
		s.Step()
		s.Each(func(_ string, sv, _ bool) {
			if sv {
				serving++
			}
		})
		serving += s.Running()
		clk.t = clk.t.Add(15 * time.Second)
		k++
	}
}
