package workload

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// slots is the engine under the queue and olap models: jobs wait in a FIFO
// queue; each serving instance runs up to k at once; a job holds its slot
// (and its memory) until its service time has passed.
//
// Jobs are counted, not simulated one by one. Jobs that start on one
// instance at one moment form at most `budget − batches held` batches
// (never fewer than one), each with one service time: with m batches for n
// jobs, batch j's time is the distribution's quantile at (j + U)/m, U
// uniform — a stratified sample, so the batches' durations follow the
// distribution however large n is, and a step costs O(batches that end in
// it), not O(jobs). While n ≤ the budget every job is its own batch and the
// model is exact (jobs start at step boundaries or when a slot frees). Past
// it, jobs sharing a service time free their slots together: capacity is
// burstier, and near saturation the queue runs a little longer (+6% backlog
// in TestBatchingMatchesExact); raise the budget for fidelity, lower it for
// speed.
//
// Arrivals of a step enter the queue at the step's start. A slot freed
// inside a step takes the next waiting job at the moment it frees, so short
// jobs cycle many times in one step.
//
// Service times are in progress seconds: a virtual clock that runs at
// `speed` (1 unless a throttling backend slows every job down).
type slots struct {
	k      float64
	budget int
	dur    dist
	mem    *dist // nil: jobs hold no memory
	arr    arrivals
	rng    *rand.Rand

	fl     fleet[slotInst]
	heap   []batch
	queue  []cohort // waiting jobs, oldest first, from qhead
	qhead  int
	work   Work
	speed  float64
	vclock float64 // progress seconds
	hole   bool    // heap[0] has ended: push replaces it

	// as of the last step
	rate     float64 // arrivals per second
	end      float64 // real seconds
	nServing int
	held     float64 // jobs on serving instances
	memUsed  float64 // memory on serving instances
}

type slotInst struct {
	held    float64 // jobs in flight
	mem     float64 // memory those jobs hold
	batches int
}

type batch struct {
	end  float64 // progress seconds at which its jobs finish
	n    float64
	mem  float64
	inst int32 // the member holding the jobs
}

// cohort is the jobs that arrived in one step, still waiting.
type cohort struct {
	n  float64
	at float64 // real seconds
}

func newSlots(k, budget int, dur dist, mem *dist, arrivalMode string, seed uint64) *slots {
	return &slots{
		k: float64(k), budget: budget, dur: dur, mem: mem,
		arr:   arrivals{mode: arrivalMode},
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		fl:    newFleet[slotInst](),
		speed: 1,
	}
}

func (s *slots) step(now, dt time.Duration, rate float64, insts []Instance) {
	t0 := seconds(now)
	d := seconds(dt)
	t1 := t0 + d
	members := s.fl.sync(insts)
	s.rate = sanitize(rate)
	if n := s.arr.draw(s.rng, s.rate*d); n > 0 {
		s.queue = append(s.queue, cohort{n: n, at: t0})
		s.work.Queued += n
		s.work.Submitted += n
	}
	f := s.speed
	v0 := s.vclock
	v1 := v0 + f*d
	// fill starts nothing once the queue is empty.
	for _, i := range members {
		if s.work.Queued <= 0 {
			break
		}
		if s.fl.at(i).serving {
			s.fill(i, v0)
		}
	}
	for len(s.heap) > 0 && s.heap[0].end <= v1 {
		// The ended batch's place at the top takes the first batch its
		// slots start (one sift instead of two), or is removed after.
		b := s.heap[0]
		s.hole = true
		m := s.fl.at(b.inst)
		in := &m.s
		in.held -= b.n
		in.mem -= b.mem
		in.batches--
		if in.held == 0 || in.mem < 0 {
			in.mem = 0
		}
		s.work.InFlight -= b.n
		s.work.Completed += b.n
		if m.serving && s.work.Queued > 0 {
			s.fill(b.inst, b.end)
		}
		if s.hole {
			s.hole = false
			s.pop()
		}
	}
	s.vclock = v1
	s.end = t1
	s.nServing, s.held, s.memUsed = 0, 0, 0
	for _, i := range members {
		if m := s.fl.at(i); m.serving {
			s.nServing++
			s.held += m.s.held
			s.memUsed += m.s.mem
		}
	}
}

// fill starts waiting jobs in member i's free slots at progress time v.
func (s *slots) fill(i int32, v float64) {
	in := &s.fl.at(i).s
	n := min(s.k-in.held, s.work.Queued)
	if n <= 0 {
		return
	}
	s.take(n)
	nb := min(n, float64(max(1, s.budget-in.batches)))
	base := math.Floor(n / nb)
	extra := n - base*nb // batches that get one job more
	shift := 0.0
	if extra > 0 {
		shift = math.Floor(s.rng.Float64() * nb)
	}
	for j := 0.0; j < nb; j++ {
		c := base
		// (j + shift) mod nb, both whole numbers below nb: exact, as
		// math.Mod is, without its loop.
		if r := j + shift; r < extra || r >= nb && r-nb < extra {
			c++
		}
		b := batch{end: v + s.draw(j, nb), n: c, inst: i}
		if s.mem != nil {
			b.mem = c * s.mem.quantile(s.rng.Float64())
			in.mem += b.mem
		}
		s.push(b)
		in.batches++
	}
	in.held += n
	s.work.InFlight += n
}

// draw is the service time of batch j of nb: the quantile at (j + U)/nb.
// A lone exponential batch takes the ziggurat draw, cheaper than a log.
func (s *slots) draw(j, nb float64) float64 {
	if nb == 1 && s.dur.kind == shapeExponential && s.dur.max == 0 {
		return s.dur.mean * s.rng.ExpFloat64()
	}
	return s.dur.quantile((j + s.rng.Float64()) / nb)
}

// take removes n waiting jobs, oldest first.
func (s *slots) take(n float64) {
	s.work.Queued -= n
	for n > 0 {
		c := &s.queue[s.qhead]
		if c.n > n {
			c.n -= n
			break
		}
		n -= c.n
		s.qhead++
	}
	if s.work.Queued == 0 || s.qhead > 64 && s.qhead*2 > len(s.queue) {
		s.queue = append(s.queue[:0], s.queue[s.qhead:]...)
		s.qhead = 0
	}
}

// age is how long the oldest waiting job has waited, in seconds.
func (s *slots) age() float64 {
	if s.work.Queued == 0 || s.qhead >= len(s.queue) {
		return 0
	}
	return s.end - s.queue[s.qhead].at
}

func (s *slots) busy(id string) bool {
	m := s.fl.get(id)
	return m != nil && m.s.held > 0
}

func (s *slots) stopped(id string) {
	i, m, ok := s.fl.remove(id)
	if !ok || m.s.held == 0 {
		return
	}
	s.work.Lost += m.s.held
	s.work.InFlight -= m.s.held
	s.heap = slices.DeleteFunc(s.heap, func(b batch) bool { return b.inst == i })
	for i := (len(s.heap) - 2) / 4; i >= 0; i-- {
		s.down(i)
	}
}

// fullSpeed is the jobs per second the fleet would finish in the next step
// of dt at full speed: the jobs it would hold over their mean time.
func (s *slots) fullSpeed(dt time.Duration, rate float64, insts []Instance) float64 {
	free := 0.0
	for _, in := range insts {
		if in.Serving && !in.Draining {
			free += s.k
			if m := s.fl.get(in.ID); m != nil {
				free -= m.s.held
			}
		}
	}
	free = max(free, 0)
	n := s.work.InFlight + min(free, s.work.Queued+sanitize(rate)*seconds(dt))
	return n / s.dur.mean
}

func (s *slots) push(b batch) {
	if s.hole {
		s.hole = false
		s.heap[0] = b
		s.down(0)
		return
	}
	s.heap = append(s.heap, b)
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s.heap[p].end <= s.heap[i].end {
			break
		}
		s.heap[p], s.heap[i] = s.heap[i], s.heap[p]
		i = p
	}
}

// pop removes the top batch.
func (s *slots) pop() {
	h := s.heap
	last := len(h) - 1
	h[0] = h[last]
	h[last] = batch{}
	s.heap = h[:last]
	s.down(0)
}

// down sifts heap[i] down. The heap is 4-ary: half as deep as a binary
// one, and popping, the common operation, touches fewer cache lines.
//
// It moves the smaller children up into the place the batch leaves and
// writes the batch once where it stops: the same heap as swapping at
// each level, with a third of the writes.
func (s *slots) down(i int) {
	h := s.heap
	if i >= len(h) {
		return
	}
	x := h[i]
	for {
		l := 4*i + 1
		if l >= len(h) {
			break
		}
		c, ce := l, h[l].end
		for j, end := l+1, min(l+4, len(h)); j < end; j++ {
			if e := h[j].end; e < ce {
				c, ce = j, e
			}
		}
		if x.end <= ce {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}

// mgnWaitTail approximates P(wait > t) in an M/G/n queue: Erlang C times
// an exponential tail whose rate is scaled by 2/(1 + cv²) (the
// Allen–Cunneen correction; exact for exponential service).
func mgnWaitTail(n int, lambda, mean, cv2, t float64) float64 {
	a := lambda * mean
	if a >= float64(n) {
		return 1
	}
	c := erlangC(n, a)
	return c * math.Exp(-(float64(n)/mean-lambda)*t*2/(1+cv2))
}
