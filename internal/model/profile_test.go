package model

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProfile(t *testing.T) {
	h := func(hour int64, min int) int64 { return hour*int64(time.Hour) + int64(min)*int64(time.Minute) }
	var p Profile
	p.Reset("rps")
	p.Add(h(100, 0), 10, 4)
	p.Add(h(100, 30), 20, 4)
	p.Add(h(99, 59), 1000, 4) // older than the open hour: ignored
	p.Add(h(101, 0), 30, 4)
	p.Add(h(103, 0), 50, 4) // 102 had no data
	want := Profile{Version: ProfileVersion, Signal: "rps", Hour: 103, Sum: 50, N: 1,
		Means: []float64{15, 30, 0}, Counts: []int32{2, 1, 0}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("profile (-want +got):\n%s", diff)
	}
	if got := p.HoursWithData(); got != 2 {
		t.Errorf("HoursWithData = %d, want 2", got)
	}
	// Hours 100 and 101 with a period of 1 hour: every closed hour with
	// data; with a period of 2, 101 alone.
	if m, n := p.Bucket(100, 1); m != 22.5 || n != 2 {
		t.Errorf("Bucket(100, 1) = %v, %d; want 22.5, 2", m, n)
	}
	if m, n := p.Bucket(105, 2); m != 30 || n != 1 {
		t.Errorf("Bucket(105, 2) = %v, %d; want 30, 1", m, n)
	}
	if _, n := p.Bucket(102, 24); n != 0 {
		t.Errorf("Bucket(102, 24) holds %d hours, want 0 (no data that hour)", n)
	}
	// Keeping 4 hours drops the oldest; a gap longer than that forgets all.
	p.Add(h(105, 0), 70, 4)
	if diff := cmp.Diff([]int32{1, 0, 1, 0}, p.Counts); diff != "" {
		t.Errorf("counts after trimming (-want +got):\n%s", diff)
	}
	p.Add(h(200, 0), 1, 4)
	if len(p.Means) != 0 || p.Hour != 200 || p.N != 1 {
		t.Errorf("after a long gap: %+v", p)
	}
	c := p.Clone()
	p.Add(h(201, 0), 2, 4)
	if len(c.Means) != 0 {
		t.Errorf("clone shares memory with the original: %+v", c)
	}
	if HourOf(-1) != -1 || HourOf(0) != 0 || HourOf(int64(time.Hour)) != 1 {
		t.Errorf("HourOf rounds toward zero instead of down")
	}
}
