package queue

import (
	"math"
	"slices"
	"time"
)

// Stats is a snapshot of the queue, served as GET /v1/stats.
type Stats struct {
	Submitted int64 `json:"submitted"`
	Queued    int   `json:"queued"`
	InFlight  int   `json:"in_flight"`
	Completed int64 `json:"completed"`
	// Released counts jobs sent back to the queue by release.
	Released int64 `json:"released"`
	// Waiting is how many takes are parked in a long poll: idle workers.
	Waiting int `json:"waiting"`
	// InFlightByWorker lists workers holding at least one job.
	InFlightByWorker map[string]int `json:"in_flight_by_worker"`
	// WaitP50MS and WaitP99MS are nearest-rank percentiles of queue wait
	// (take time − enqueue time) over completed jobs; 0 before the first.
	WaitP50MS float64 `json:"wait_p50_ms"`
	WaitP99MS float64 `json:"wait_p99_ms"`
}

// Stats returns a snapshot of the queue.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	s := Stats{
		Submitted:        q.submitted,
		Queued:           len(q.pending),
		Completed:        q.completed,
		Released:         q.released,
		Waiting:          q.waiting,
		InFlightByWorker: map[string]int{},
	}
	for _, j := range q.jobs {
		if j.state == taken {
			s.InFlight++
			s.InFlightByWorker[j.worker]++
		}
	}
	waits := slices.Clone(q.waits)
	q.mu.Unlock()

	slices.Sort(waits)
	s.WaitP50MS = millis(percentile(waits, 50))
	s.WaitP99MS = millis(percentile(waits, 99))
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted, or 0 if it
// is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
