package trace

import (
	"math"
	"strings"
	"testing"
)

// FuzzRead checks that Read never panics and that whatever it accepts is a
// well-formed trace.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"t,rate\n0,2\n10,4\n40,0\n",
		"t,rate\n0,1\n0.5,3\n",
		"t,rate\n0,1\n1e300,1\n",
		"t,rate\n0,x\n1,1\n",
		"t,rate\n\"0\",1\n1,\"2\"\n",
		"t,rate\n0,1,2\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := Read("f.csv", strings.NewReader(s))
		if err != nil {
			if tr != nil {
				t.Fatal("a trace with an error")
			}
			return
		}
		pts := tr.points
		if len(pts) < 2 || pts[0].T != 0 || tr.Duration() <= pts[len(pts)-1].T {
			t.Fatalf("accepted %d points from %v, ending at %v", len(pts), pts[0].T, tr.Duration())
		}
		for i, p := range pts {
			if math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) || p.Rate < 0 || (i > 0 && p.T <= pts[i-1].T) {
				t.Fatalf("accepted point %d: %+v", i, p)
			}
		}
		if m := tr.Mean(); math.IsNaN(m) || m < 0 || m > tr.Peak()*(1+1e-12) {
			t.Fatalf("mean %v with peak %v", m, tr.Peak())
		}
	})
}
