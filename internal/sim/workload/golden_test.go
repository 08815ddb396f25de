package workload

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func serving(ids ...string) []Instance {
	var out []Instance
	for _, id := range ids {
		out = append(out, Instance{ID: id, Serving: true})
	}
	return out
}

func steps(m Model, from, to int, rate float64, insts []Instance) {
	for i := from; i < to; i++ {
		m.Step(time.Duration(i)*time.Second, time.Second, rate, insts)
	}
}

var approx = cmpopts.EquateApprox(1e-9, 1e-9)

func mustDefaults(t *testing.T, kind string) Config {
	t.Helper()
	c, err := Defaults(kind)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// One worker, two slots, 4 s jobs, one job a second: half the load is
// served. Slot A runs the jobs of t=0, 2, 4, … ending at 4, 8, 12; slot B
// those of t=1, 3, 5 ending at 5, 9, 13 (a job ending on a step's end ends
// in that step). After 10 steps (t=10): 4 done, 2 running, the jobs of
// t=6…9 waiting, the oldest for 4 s.
func TestQueueGolden(t *testing.T) {
	c := mustDefaults(t, "queue").Queue
	c.Service = Durations{Dist: distFixed, Mean: cfgDur(4 * time.Second)}
	c.PerWorker = 2
	c.Arrivals = arrivalsEven
	c.MaxWait = cfgDur(4 * time.Second)
	q, err := NewQueue(*c, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps(q, 0, 10, 1, serving("a"))
	if diff := cmp.Diff(Work{Submitted: 10, Completed: 4, InFlight: 2, Queued: 4}, q.Work()); diff != "" {
		t.Errorf("work (-want +got):\n%s", diff)
	}
	want := map[string]float64{"arrival_rate": 1, "queue": 4, "in_flight": 2, "backlog": 6, "busy": 1, "age_s": 4}
	if diff := cmp.Diff(want, q.Signals()); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	if !q.Violating() {
		t.Error("not violating with the oldest job waiting max_wait")
	}
	// Draining, "a" takes nothing more: its jobs end at 12 and 13.
	drain := []Instance{{ID: "a", Draining: true}}
	steps(q, 10, 12, 0, drain)
	if !q.Busy("a") {
		t.Error("a idle at t=12 with a job ending at 13")
	}
	steps(q, 12, 13, 0, drain)
	if q.Busy("a") {
		t.Error("a busy at t=13 with its jobs done")
	}
	q.Stopped("a")
	if diff := cmp.Diff(Work{Submitted: 10, Completed: 6, Queued: 4}, q.Work()); diff != "" {
		t.Errorf("work after the drain (-want +got):\n%s", diff)
	}
	// 1 job/s of 4 s jobs is 4 busy slots: 3 workers (6 slots) are the
	// fewest with room, and there P(wait ≥ 4 s) ≈ C(6, 4)·e^(−(6/4 − 1)·4·2)
	// = 0.2848·e^−4 = 0.0052, under the 1% tail (fixed service times halve
	// the M/M/n decay time: 2/(1 + cv²) = 2).
	if got := q.Demand(1); got != 3 {
		t.Errorf("Demand(1) = %d, want 3", got)
	}
}

// Stopping a worker with jobs loses exactly those jobs.
func TestQueueStoppedBusyLoses(t *testing.T) {
	c := mustDefaults(t, "queue").Queue
	c.Service = Durations{Dist: distFixed, Mean: cfgDur(10 * time.Second)}
	c.PerWorker = 3
	c.Arrivals = arrivalsEven
	q, err := NewQueue(*c, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps(q, 0, 5, 1, serving("a", "b")) // 5 jobs: a takes 3 (t=0,0…)
	if got := q.Work().InFlight; got != 5 {
		t.Fatalf("in flight %v, want 5", got)
	}
	held := 0.0
	for _, id := range []string{"a", "b"} {
		held += q.s.fl.get(id).s.held
	}
	aHeld := q.s.fl.get("a").s.held
	q.Stopped("a")
	w := q.Work()
	if w.Lost != aHeld || w.InFlight != held-aHeld || aHeld == 0 {
		t.Fatalf("after stopping a (holding %v): %+v", aHeld, w)
	}
	// b's jobs still end: none of a's batches is left in the heap.
	steps(q, 5, 20, 0, serving("b"))
	if w := q.Work(); w.InFlight != 0 || w.Completed != 5-aHeld {
		t.Fatalf("after b finished: %+v", w)
	}
}

// With many jobs starting at once on one instance, batches keep the cost
// down and still average the distribution's mean.
func TestQueueBatchesKeepMean(t *testing.T) {
	c := mustDefaults(t, "queue").Queue
	c.Service = Durations{Dist: distLognormal, Mean: cfgDur(2 * time.Second), Sigma: 1}
	c.PerWorker = 10000
	c.Batches = 8
	q, err := NewQueue(*c, 3)
	if err != nil {
		t.Fatal(err)
	}
	// 2000 jobs/s of 2 s mean on 2 workers: about 4000 in flight in steady
	// state (Little's law), with at most ~8 batches per worker alive.
	steps(q, 0, 600, 2000, serving("a", "b"))
	inFlight := q.Work().InFlight
	if math.Abs(inFlight-4000)/4000 > 0.1 {
		t.Errorf("in flight %v, want about 4000", inFlight)
	}
	if n := len(q.s.heap); n > 40 {
		t.Errorf("%d batches alive, want about 8 per worker", n)
	}
}

// Two instances at 100 req/s each, 150 req/s: ρ = 0.75, a = 1.5, Erlang
// C(2, 1.5) = 4.5/7, W = 10 ms + (4.5/7)/50 s = 22.857142857 ms. One
// instance at 150 req/s is overloaded: 50 requests left after a second,
// latency = M/M/1 at λ' = 99 (W = 1 s) + 50/100 s = 1500 ms.
func TestServiceGolden(t *testing.T) {
	c := mustDefaults(t, "service").Service
	s, err := NewService(*c)
	if err != nil {
		t.Fatal(err)
	}
	steps(s, 0, 1, 150, serving("a", "b"))
	want := map[string]float64{"utilization": 0.75, "latency_ms": 1000 * (0.01 + 4.5/7/50), "rps": 150, "rps_per_instance": 75}
	if diff := cmp.Diff(want, s.Signals(), approx); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	// 1.5 servers busy: 1.5 requests in service at the step's end.
	if diff := cmp.Diff(Work{Submitted: 150, Completed: 148.5, InFlight: 1.5}, s.Work(), approx); diff != "" {
		t.Errorf("work (-want +got):\n%s", diff)
	}
	if !s.Busy("a") || s.Violating() {
		t.Errorf("busy %v, violating %v: want busy, not violating", s.Busy("a"), s.Violating())
	}
	// Draining, a is idle after one step; stopped then, nothing is lost.
	steps(s, 1, 2, 150, []Instance{{ID: "a", Draining: true}, {ID: "b", Serving: true}})
	if s.Busy("a") {
		t.Error("a busy one step into its drain")
	}
	s.Stopped("a")
	w := s.Work()
	if w.Lost != 0 || math.Abs(w.Queued-50) > 1e-9 {
		t.Errorf("work with b alone: %+v, want 50 queued, none lost", w)
	}
	if got := s.Signals()["latency_ms"]; math.Abs(got-1500) > 1e-9 {
		t.Errorf("overloaded latency %v ms, want 1500", got)
	}
	if !s.Violating() {
		t.Error("not violating at 1500 ms")
	}
	if got := s.Demand(150); got != 2 {
		t.Errorf("Demand(150) = %d, want 2", got)
	}
}

// 2 workers at 1000 rec/s, 1500 rec/s in: no backlog. Adding a worker at
// t=10 pauses 30 s: 45,000 records pile up, lag = 45000/3000 = 15 s. Then
// 3000 rec/s drain 1500 net per second.
func TestStreamingGolden(t *testing.T) {
	c := mustDefaults(t, "streaming").Streaming
	s, err := NewStreaming(*c)
	if err != nil {
		t.Fatal(err)
	}
	steps(s, 0, 10, 1500, serving("a", "b"))
	if w := s.Work(); w.Queued != 0 || w.Completed != 15000 {
		t.Fatalf("before the rescale: %+v", w)
	}
	three := serving("a", "b", "c")
	steps(s, 10, 40, 1500, three)
	want := map[string]float64{"input_rate": 1500, "throughput": 0, "backlog": 45000, "lag_s": 15, "busy": 0}
	if diff := cmp.Diff(want, s.Signals()); diff != "" {
		t.Errorf("end of the restart (-want +got):\n%s", diff)
	}
	steps(s, 40, 41, 1500, three)
	want = map[string]float64{"input_rate": 1500, "throughput": 3000, "backlog": 43500, "lag_s": 14.5, "busy": 1}
	if diff := cmp.Diff(want, s.Signals()); diff != "" {
		t.Errorf("first step after (-want +got):\n%s", diff)
	}
	if s.Restarts() != 1 || s.Violating() {
		t.Errorf("restarts %d, violating %v", s.Restarts(), s.Violating())
	}
	// The same workers listed in another order are no rescale.
	steps(s, 41, 42, 1500, serving("c", "a", "b"))
	if s.Restarts() != 1 {
		t.Errorf("reordering restarted the job")
	}
	if got := s.Demand(1500); got != 2 {
		t.Errorf("Demand(1500) = %d, want 2", got)
	}
}

// One worker takes a query a second for 5 s, each 4 GiB for 20 s: 5 of 8
// slots, 20 of 64 GiB. Drained (a second worker serving), it keeps running
// them until the last ends at t=24, and stopping it then loses nothing.
func TestOLAPGolden(t *testing.T) {
	c := mustDefaults(t, "olap").OLAP
	c.Duration = Durations{Dist: distFixed, Mean: cfgDur(20 * time.Second)}
	c.Memory = Memory{MeanGiB: 4}
	c.Arrivals = arrivalsEven
	o, err := NewOLAP(*c, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps(o, 0, 5, 1, serving("a"))
	want := map[string]float64{"arrival_rate": 1, "running": 5, "queued": 0, "memory_util": 20.0 / 64, "busy": 5.0 / 8}
	if diff := cmp.Diff(want, o.Signals()); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	shift := []Instance{{ID: "a", Draining: true}, {ID: "b", Serving: true}}
	steps(o, 5, 23, 0, shift)
	if !o.Busy("a") {
		t.Error("a idle at t=23 with a query ending at 24")
	}
	want = map[string]float64{"arrival_rate": 0, "running": 1, "queued": 0, "memory_util": 0, "busy": 0}
	if diff := cmp.Diff(want, o.Signals()); diff != "" {
		t.Errorf("signals while draining (-want +got):\n%s", diff)
	}
	steps(o, 23, 24, 0, shift)
	if o.Busy("a") {
		t.Error("a busy at t=24")
	}
	o.Stopped("a")
	if diff := cmp.Diff(Work{Submitted: 5, Completed: 5}, o.Work()); diff != "" {
		t.Errorf("work (-want +got):\n%s", diff)
	}
}

// A 100 calls/s backend in front of two 100 req/s instances at 150 req/s,
// no retries: 150 attempts, 100/(1 + 0.5·0.5) = 80 accepted, 70
// throttled; the instances run at 80/150 of their speed.
func TestBackendGolden(t *testing.T) {
	c := mustDefaults(t, "service")
	c.Backend = &BackendConfig{Limit: 100, CallsPerUnit: 1, Retries: 0, Collapse: 0.5}
	m, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps(m, 0, 1, 150, serving("a", "b"))
	sig := m.Signals()
	if got := sig["throttled_rate"]; math.Abs(got-70) > 1e-9 {
		t.Errorf("throttled_rate %v, want 70", got)
	}
	// Served 2·100·80/150 = 106.67 of 150: 43.33 left waiting.
	if got := m.Work().Queued; math.Abs(got-(150-200*80.0/150)) > 1e-9 {
		t.Errorf("queued %v, want %v", got, 150-200*80.0/150)
	}
	// The model's demand is capped at what the backend lets through.
	if got, want := m.Demand(1000), m.Demand(100); got != want {
		t.Errorf("Demand(1000) = %d, want Demand(100) = %d", got, want)
	}
}

// Past the limit more instances finish less: a queue fleet of 40 workers
// completes fewer jobs than one of 10 against the same backend.
func TestBackendMoreInstancesWorse(t *testing.T) {
	completed := func(n int) (float64, float64) {
		c := mustDefaults(t, "queue")
		c.Queue.Arrivals = arrivalsEven
		c.Backend = &BackendConfig{Limit: 20, CallsPerUnit: 5, Retries: 3, Collapse: 0.5}
		m, err := New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		var insts []Instance
		for i := range n {
			insts = append(insts, Instance{ID: string(rune('a' + i)), Serving: true})
		}
		steps(m, 0, 1800, 6, insts)
		return m.Work().Completed, m.Signals()["throttled_rate"]
	}
	few, fewT := completed(10)
	many, manyT := completed(40)
	if !(many < few) || !(manyT > fewT) {
		t.Errorf("10 workers: %v done, %v/s throttled; 40 workers: %v done, %v/s throttled; want the 40 to do less and be throttled more", few, fewT, many, manyT)
	}
	t.Logf("10 workers: %.0f done, %.1f/s throttled; 40 workers: %.0f done, %.1f/s throttled", few, fewT, many, manyT)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"two kinds", func(c *Config) { c.Queue = &QueueConfig{} }, "exactly one of service, queue, streaming or olap, not 2"},
		{"latency below service time", func(c *Config) { c.Service.MaxLatency = cfgDur(5 * time.Millisecond) }, "service.max_latency: must exceed the service time 1/capacity_rps (10ms), not 5ms"},
		{"capacity", func(c *Config) { c.Service.CapacityRPS = -1 }, "service.capacity_rps: must be > 0, not -1"},
		{"backend", func(c *Config) { c.Backend = &BackendConfig{Limit: 0, CallsPerUnit: 1} }, "backend.limit: must be > 0, not 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDefaults(t, "service")
			tc.edit(&c)
			_, err := New(c, 1)
			if err == nil || !containsLine(err.Error(), tc.want) {
				t.Fatalf("error %v, want a line %q", err, tc.want)
			}
		})
	}
	if _, err := Defaults("batch"); err == nil {
		t.Error("Defaults(batch) made a config")
	}
	bad := []struct {
		name string
		err  error
		want string
	}{
		{"queue", (&QueueConfig{Service: Durations{Dist: "gamma", Mean: cfgDur(time.Second)}, PerWorker: 0, MaxWait: 0, Arrivals: "burst", Batches: 0, Tail: 1}).Validate(),
			"service.dist: must be fixed, exponential, lognormal or pareto, not \"gamma\""},
		{"pareto", (&Durations{Dist: distPareto, Mean: cfgDur(time.Second), Alpha: 1}).Validate(), "alpha: must be > 1 (a finite mean) and ≤ 100, not 1"},
		{"olap", (&OLAPConfig{Duration: Durations{Dist: distFixed, Mean: cfgDur(time.Second)}, Arrivals: "poisson", Batches: 1, PerWorker: 1, MaxWait: cfgDur(time.Second), Tail: 0.1}).Validate(), "worker_gib: must be > 0, not 0"},
		{"streaming", (&StreamingConfig{}).Validate(), "per_worker_rps: must be > 0, not 0"},
	}
	for _, b := range bad {
		if b.err == nil || !containsLine(b.err.Error(), b.want) {
			t.Errorf("%s: error %v, want a line %q", b.name, b.err, b.want)
		}
	}
}

func containsLine(s, line string) bool {
	for _, l := range splitLines(s) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestDefaults(t *testing.T) {
	c := mustDefaults(t, "olap").OLAP
	want := Durations{Dist: distPareto, Mean: cfgDur(30 * time.Second), Sigma: 1, Alpha: 1.5, Max: cfgDur(time.Hour)}
	if diff := cmp.Diff(want, c.Duration); diff != "" {
		t.Errorf("olap duration defaults (-want +got):\n%s", diff)
	}
	for _, k := range Kinds {
		c := mustDefaults(t, k)
		if err := c.Validate(); err != nil {
			t.Errorf("%s defaults invalid: %v", k, err)
		}
	}
}
