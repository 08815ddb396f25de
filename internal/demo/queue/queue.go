package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// Limits on what the queue accepts.
const (
	MaxWait      = 10 * time.Second
	MaxServiceMS = 600_000 // ten minutes
	MaxQueued    = 100_000
	MaxBodyBytes = 64 << 10
)

// Errors the core returns; the HTTP layer maps them to status codes.
var (
	errConflict = errors.New("conflict")   // 409
	errFull     = errors.New("queue full") // 503
)

// Option configures a Queue.
type Option func(*Queue)

// WithClock makes the queue read the time, and time its long polls, from c
// instead of the wall clock.
func WithClock(c clock.Clock) Option {
	return func(q *Queue) { q.clock = c }
}

// Queue is a FIFO of jobs with per-worker leases. Its zero value is not
// usable; call New.
type Queue struct {
	clock clock.Clock

	mu        sync.Mutex
	seq       int
	jobs      map[string]*job // every job ever submitted, by id
	pending   []*job          // queued, head first
	wake      chan struct{}   // closed and replaced whenever a job is queued
	submitted int64
	completed int64
	released  int64
	waiting   int
	waits     []time.Duration // queue wait of each completed job

	// parked and unparked, when set by tests, are called as a take starts and
	// stops waiting for a job.
	parked, unparked func(worker string)
}

type state int

const (
	queued state = iota
	taken
	done
)

type job struct {
	id       string
	service  int64 // ms
	enqueued time.Time
	state    state
	worker   string        // holder while taken, completer once done
	wait     time.Duration // take time − enqueue time, of the last take
}

func (j *job) wire() Job {
	return Job{ID: j.id, ServiceMS: j.service, EnqueuedAt: j.enqueued}
}

// New returns an empty queue.
func New(opts ...Option) *Queue {
	q := &Queue{
		clock: clock.Real{},
		jobs:  map[string]*job{},
		wake:  make(chan struct{}),
	}
	for _, o := range opts {
		o(q)
	}
	return q
}

// submit queues a job at the tail and returns its id.
func (q *Queue) submit(serviceMS int64) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= MaxQueued {
		return "", fmt.Errorf("%w: %d jobs queued", errFull, len(q.pending))
	}
	q.seq++
	j := &job{id: fmt.Sprintf("j%06d", q.seq), service: serviceMS, enqueued: q.clock.Now()}
	q.jobs[j.id] = j
	q.pending = append(q.pending, j)
	q.submitted++
	q.signalLocked()
	return j.id, nil
}

func (q *Queue) signalLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// take hands the head job to worker, waiting up to wait for one. It hands
// out nothing once ctx is done, so a take whose client has gone cannot
// swallow a job.
func (q *Queue) take(ctx context.Context, worker string, wait time.Duration) (Job, bool) {
	tctx, cancel := context.WithCancel(ctx) // stops the timer when we return
	defer cancel()
	var expired <-chan struct{}
	for {
		q.mu.Lock()
		if ctx.Err() != nil {
			q.mu.Unlock()
			return Job{}, false
		}
		if len(q.pending) > 0 {
			j := q.pending[0]
			q.pending[0] = nil
			q.pending = q.pending[1:]
			j.state, j.worker = taken, worker
			j.wait = q.clock.Now().Sub(j.enqueued)
			q.mu.Unlock()
			return j.wire(), true
		}
		if expired == nil {
			if wait <= 0 {
				q.mu.Unlock()
				return Job{}, false
			}
			expired = q.timer(tctx, wait)
		}
		select {
		case <-expired:
			// The deadline passed while we held nothing but the lock.
			q.mu.Unlock()
			return Job{}, false
		default:
		}
		wake := q.wake
		q.waiting++
		parked, unparked := q.parked, q.unparked
		q.mu.Unlock()

		if parked != nil {
			parked(worker)
		}
		timedOut := false
		select {
		case <-wake:
		case <-ctx.Done():
		case <-expired:
			timedOut = true
		}
		q.mu.Lock()
		q.waiting--
		q.mu.Unlock()
		if unparked != nil {
			unparked(worker)
		}
		if timedOut {
			// One last look: a job queued as the deadline passed is ours.
			return q.take(ctx, worker, 0)
		}
	}
}

// timer returns a channel closed once the queue's clock has run for d, or
// never if ctx ends first.
func (q *Queue) timer(ctx context.Context, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		if q.clock.Sleep(ctx, d) == nil {
			close(ch)
		}
	}()
	return ch
}

// requeue puts a job that worker could not be given back at the head.
func (q *Queue) requeue(id, worker string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil || j.state != taken || j.worker != worker {
		return
	}
	q.pushFrontLocked([]*job{j})
}

func (q *Queue) pushFrontLocked(js []*job) {
	for _, j := range js {
		j.state, j.worker, j.wait = queued, "", 0
	}
	q.pending = append(js, q.pending...)
	q.signalLocked()
}

// done records that worker finished job id.
func (q *Queue) done(id, worker string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	switch {
	case j == nil:
		return fmt.Errorf("%w: job %s: no such job", errConflict, id)
	case j.state == done:
		return fmt.Errorf("%w: job %s: already done by worker %s", errConflict, id, j.worker)
	case j.state == queued:
		return fmt.Errorf("%w: job %s: not taken by any worker (released?)", errConflict, id)
	case j.worker != worker:
		return fmt.Errorf("%w: job %s: held by worker %s, not %s", errConflict, id, j.worker, worker)
	}
	j.state = done
	q.completed++
	q.waits = append(q.waits, j.wait)
	return nil
}

// release puts every job worker holds back at the head of the queue, oldest
// first, and returns their ids.
func (q *Queue) release(worker string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var held []*job
	for _, j := range q.jobs {
		if j.state == taken && j.worker == worker {
			held = append(held, j)
		}
	}
	ids := make([]string, 0, len(held))
	if len(held) == 0 {
		return ids
	}
	// Ids are fixed-width and sequential, so they sort in submission order.
	slices.SortFunc(held, func(a, b *job) int { return strings.Compare(a.id, b.id) })
	for _, j := range held {
		ids = append(ids, j.id)
	}
	q.released += int64(len(held))
	q.pushFrontLocked(held)
	return ids
}
