package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// kinds are the models the property tests run, each made fresh per seed
// (failing t if it cannot be made).
func kinds(t testing.TB) map[string]func(seed uint64) Model {
	mk := func(kind string, backend bool, tweak func(*Config)) func(uint64) Model {
		return func(seed uint64) Model {
			t.Helper()
			c, err := Defaults(kind)
			if err != nil {
				t.Fatal(err)
			}
			if tweak != nil {
				tweak(&c)
			}
			if backend {
				if c.Backend, err = DefaultBackend(); err != nil {
					t.Fatal(err)
				}
				c.Backend.Limit = 50
			}
			m, err := New(c, seed)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	short := func(c *Config) { c.Queue.Service.Mean = cfgDur(300 * time.Millisecond); c.Queue.Batches = 3 }
	lognormal := func(c *Config) { c.Queue.Service.Dist = distLognormal; c.Queue.Service.Sigma = 2 }
	return map[string]func(uint64) Model{
		"service":         mk("service", false, nil),
		"queue":           mk("queue", false, nil),
		"queue/short":     mk("queue", false, short),
		"queue/lognormal": mk("queue", false, lognormal),
		"streaming":       mk("streaming", false, nil),
		"olap":            mk("olap", false, nil),
		"service+backend": mk("service", true, nil),
		"queue+backend":   mk("queue", true, nil),
		"olap+backend":    mk("olap", true, nil),
	}
}

// driver is a small fleet: instances boot, serve, drain and stop at
// random; kill makes it stop busy instances too.
type driver struct {
	rng   *rand.Rand
	insts []Instance
	boot  map[string]int // steps left booting
	next  int
	kill  bool
}

func (d *driver) change(m Model) {
	switch r := d.rng.IntN(20); {
	case r < 3 && len(d.insts) < 30: // launch
		id := fmt.Sprintf("i-%d", d.next)
		d.next++
		d.insts = append(d.insts, Instance{ID: id})
		d.boot[id] = d.rng.IntN(5)
	case r < 5: // drain one serving
		for i := range d.insts {
			if d.insts[i].Serving && !d.insts[i].Draining {
				d.insts[i].Draining = true
				break
			}
		}
	}
	kept := d.insts[:0]
	for _, in := range d.insts {
		if n, ok := d.boot[in.ID]; ok {
			if n == 0 {
				delete(d.boot, in.ID)
				in.Serving = true
			} else {
				d.boot[in.ID] = n - 1
			}
		}
		stop := in.Draining && !m.Busy(in.ID)
		if d.kill && in.Serving && d.rng.IntN(50) == 0 {
			stop = true
		}
		if stop {
			m.Stopped(in.ID)
			continue
		}
		kept = append(kept, in)
	}
	d.insts = kept
}

type trace struct {
	Work    []Work
	Signals []map[string]float64
	Viol    []bool
}

// run steps a model through a random rate series and fleet, checking the
// invariants at every step.
func run(t *testing.T, m Model, seed uint64, steps int, kill bool) trace {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &driver{rng: rng, boot: map[string]int{}, kill: kill}
	for range 3 {
		d.change(m)
	}
	var tr trace
	rate := 5.0
	for i := range steps {
		if rng.IntN(30) == 0 {
			rate = rng.Float64() * 40 // a step change, sometimes to overload
		}
		r := max(0, rate*(1+0.3*math.Sin(float64(i)/50)))
		m.Step(time.Duration(i)*time.Second, time.Second, r, d.insts)
		w := m.Work()
		total := w.Completed + w.InFlight + w.Queued + w.Lost
		if math.Abs(w.Submitted-total) > 1e-9*max(w.Submitted, 1) {
			t.Fatalf("step %d: work not conserved: %+v (sum %v)", i, w, total)
		}
		for _, v := range []float64{w.Submitted, w.Completed, w.InFlight, w.Queued, w.Lost} {
			if v < -1e-9*max(w.Submitted, 1) || math.IsNaN(v) {
				t.Fatalf("step %d: negative or NaN work: %+v", i, w)
			}
		}
		if !kill && w.Lost != 0 {
			t.Fatalf("step %d: lost %v with only idle instances stopped", i, w.Lost)
		}
		if s := slotsOf(m); s != nil {
			if err := s.check(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		sig := m.Signals()
		for k, v := range sig {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("step %d: signal %s = %v", i, k, v)
			}
		}
		tr.Work = append(tr.Work, w)
		tr.Signals = append(tr.Signals, sig)
		tr.Viol = append(tr.Viol, m.Violating())
		d.change(m)
	}
	return tr
}

func TestProperties(t *testing.T) {
	for name := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			mk := kinds(t)[name]
			for seed := range uint64(6) {
				a := run(t, mk(seed), seed, 1500, false)
				b := run(t, mk(seed), seed, 1500, false)
				if diff := cmp.Diff(a, b); diff != "" {
					t.Fatalf("seed %d: two runs differ (-first +second):\n%s", seed, diff)
				}
				// A streaming job rescaled this often restarts all the time
				// and may finish nothing; the others always finish work.
				if last := a.Work[len(a.Work)-1]; last.Submitted == 0 || last.Completed == 0 && name != "streaming" {
					t.Fatalf("seed %d: nothing happened: %+v", seed, last)
				}
			}
		})
	}
}

func TestPropertiesWithKills(t *testing.T) {
	lost := false
	for name := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			mk := kinds(t)[name]
			for seed := range uint64(4) {
				tr := run(t, mk(seed), seed, 1500, true)
				lost = lost || tr.Work[len(tr.Work)-1].Lost > 0
			}
		})
	}
	if !lost {
		t.Fatal("stopping busy instances lost nothing in any model")
	}
}

func TestDemandNonDecreasing(t *testing.T) {
	for name := range kinds(t) {
		t.Run(name, func(t *testing.T) {
			m := kinds(t)[name](1)
			if got := m.Demand(0); got != 0 {
				t.Fatalf("Demand(0) = %d, want 0", got)
			}
			prev := 0
			for r := 0.5; r < 200; r *= 1.3 {
				d := m.Demand(r)
				if d < prev || d < 1 {
					t.Fatalf("Demand(%g) = %d after %d", r, d, prev)
				}
				prev = d
			}
		})
	}
}

func cfgDur(d time.Duration) config.Duration { return config.Duration(d) }

// slotsOf is the slot engine under a queue or olap model, else nil.
func slotsOf(m Model) *slots {
	switch m := m.(type) {
	case *Queue:
		return m.s
	case *OLAP:
		return m.s
	case *Backend:
		return slotsOf(m.m)
	}
	return nil
}

// check verifies the engine's bookkeeping: the heap is ordered, and the
// batches add up to each instance's jobs and to the jobs in flight.
func (s *slots) check() error {
	held := map[int32]float64{}
	count := map[int32]int{}
	for i, b := range s.heap {
		if i > 0 && s.heap[(i-1)/4].end > b.end {
			return fmt.Errorf("heap out of order at %d", i)
		}
		if id := s.fl.at(b.inst).id; id == "" || s.fl.byID[id] != b.inst {
			return fmt.Errorf("batch of stopped instance %d (%q)", b.inst, id)
		}
		held[b.inst] += b.n
		count[b.inst]++
	}
	total := 0.0
	for id, i := range s.fl.byID {
		m := s.fl.at(i)
		if m.s.held != held[i] || m.s.batches != count[i] || m.s.held > s.k {
			return fmt.Errorf("%s holds %v jobs in %d batches; its batches: %v in %d", id, m.s.held, m.s.batches, held[i], count[i])
		}
		total += m.s.held
	}
	if total != s.work.InFlight {
		return fmt.Errorf("instances hold %v jobs, %v in flight", total, s.work.InFlight)
	}
	return nil
}
