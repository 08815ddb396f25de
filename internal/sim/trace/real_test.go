package trace

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRealTraces reads the repository's traces and checks them against the
// table in traces/README.md: rows, step, peak and mean to the digits shown.
func TestRealTraces(t *testing.T) {
	for _, c := range []struct {
		file       string
		rows       int
		step       time.Duration
		peak, mean float64
		tolPeak    float64 // half the last digit shown in the README
		tolMean    float64
	}{
		{"worldcup98-48h-1s.csv", 172_800, time.Second, 3242, 522, 0.5, 0.5},
		{"wikipedia-62d-1h.csv", 1_483, time.Hour, 1026, 396, 0.5, 0.5},
		{"nasa95-58d-1m.csv", 84_332, time.Minute, 6.8, 0.68, 0.05, 0.005},
	} {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "..", "..", "traces", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tr, err := Read(c.file, f)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Len() != c.rows {
				t.Errorf("rows = %d, want %d", tr.Len(), c.rows)
			}
			// Rows are evenly spaced, so the duration is rows × step.
			if want := time.Duration(c.rows) * c.step; tr.Duration() != want {
				t.Errorf("Duration = %v, want %v", tr.Duration(), want)
			}
			for i := 1; i < tr.Len(); i++ {
				if d := tr.points[i].T - tr.points[i-1].T; d != c.step {
					t.Fatalf("row %d is %v after the previous, want %v", i+2, d, c.step)
				}
			}
			if p := tr.Peak(); math.Abs(p-c.peak) > c.tolPeak {
				t.Errorf("Peak = %v, want %v", p, c.peak)
			}
			if m := tr.Mean(); math.Abs(m-c.mean) > c.tolMean {
				t.Errorf("Mean = %v, want %v", m, c.mean)
			}
		})
	}
}
