package workload

import (
	"fmt"
	"testing"
	"time"
)

// benchQueue is the benchmark's fleet: 20 serving workers, k = 4, 10 s
// exponential jobs (8 jobs/s of capacity) at a rate swinging between 30%
// and 90% of it.
func benchQueue(b *testing.B) (*Queue, []Instance) {
	c, err := Defaults("queue")
	if err != nil {
		b.Fatal(err)
	}
	q, err := NewQueue(*c.Queue, 1)
	if err != nil {
		b.Fatal(err)
	}
	insts := make([]Instance, 20)
	for i := range insts {
		insts[i] = Instance{ID: fmt.Sprintf("i-%d", i), Serving: true}
	}
	return q, insts
}

func benchRate(i int) float64 { return 4.8 + 2.4*float64(i%86400)/86400 }

// BenchmarkQueueStep is one 1-second step.
func BenchmarkQueueStep(b *testing.B) {
	q, insts := benchQueue(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q.Step(time.Duration(i)*time.Second, time.Second, benchRate(i), insts)
		i++
	}
}

// BenchmarkQueue30Days is 30 days at 1-second steps.
func BenchmarkQueue30Days(b *testing.B) {
	const steps = 30 * 86400
	b.ReportAllocs()
	for b.Loop() {
		q, insts := benchQueue(b)
		for i := range steps {
			q.Step(time.Duration(i)*time.Second, time.Second, benchRate(i), insts)
		}
		if w := q.Work(); w.Completed < 0.9*w.Submitted {
			b.Fatalf("fell behind: %+v", w)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
}

// BenchmarkQueueStepHighRate is one step of 15,000 jobs/s of 1 s jobs on
// 20 workers of 1,000 slots: the batches, not the jobs, set the cost.
func BenchmarkQueueStepHighRate(b *testing.B) {
	c, err := Defaults("queue")
	if err != nil {
		b.Fatal(err)
	}
	c.Queue.Service.Mean = cfgDur(time.Second)
	c.Queue.PerWorker = 1000
	q, err := NewQueue(*c.Queue, 1)
	if err != nil {
		b.Fatal(err)
	}
	insts := make([]Instance, 20)
	for i := range insts {
		insts[i] = Instance{ID: fmt.Sprintf("i-%d", i), Serving: true}
	}
	i := 0
	for ; i < 120; i++ { // fill the slots: a steady state, not a start
		q.Step(time.Duration(i)*time.Second, time.Second, 15000, insts)
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Step(time.Duration(i)*time.Second, time.Second, 15000, insts)
		i++
	}
	if w := q.Work(); w.Completed < 0.9*w.Submitted {
		b.Fatalf("fell behind: %+v", w)
	}
}
