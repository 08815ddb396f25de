package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// benchGroup is a typical group: five pushed signals, three policies, the
// default behavior (stabilization, rate limits) in force.
const benchGroup = `
name: g
capacity: {min: 1, max: 200, initial: 10}
signals: {cpu: {}, mem: {}, queue: {}, rps: {}, latency: {}}
policies:
  - target: {signal: cpu, value: 0.6}
  - queue: {signal: queue, per_instance: 50}
  - simple: {signal: latency, above: 0.5, change: 2, datapoints: {need: 3, of: 5}}
guards:
  - {signal: mem, above: 0.95}
`

// benchEngine builds an engine of n copies of body, with per-group samples
// ready to be refreshed every tick.
func benchEngine(b *testing.B, n int, body string) (*Engine, [][]Sample) {
	b.Helper()
	f := &config.File{}
	one := parseB(b, body)
	for i := range n {
		g := one
		g.Name = fmt.Sprintf("g%06d", i)
		f.Groups = append(f.Groups, g)
	}
	e, err := New(f)
	if err != nil {
		b.Fatal(err)
	}
	samples := make([][]Sample, n)
	for i, g := range e.Groups {
		for s := range g.signals {
			if g.Pushed(s) {
				samples[i] = append(samples[i], Sample{Signal: s})
			}
		}
	}
	return e, samples
}

func parseB(b *testing.B, body string) config.Group {
	f, err := config.Parse("bench.yaml", []byte("groups:\n  - "+indent(body)))
	if err != nil {
		b.Fatal(err)
	}
	return f.Groups[0]
}

func indent(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, "    "...)
		}
	}
	return string(out)
}

// benchTicks runs b.N ticks of every group, with fresh values each tick.
func benchTicks(b *testing.B, n int, body string) {
	e, samples := benchEngine(b, n, body)
	rng := rand.New(rand.NewPCG(1, 2))
	// Values vary so policies take different paths; they are drawn before
	// the timer so the benchmark measures the engine, not the generator.
	const variants = 64
	vals := make([][5]float64, variants)
	for i := range vals {
		vals[i] = [5]float64{rng.Float64(), rng.Float64(), rng.Float64() * 1000, rng.Float64() * 500, rng.Float64()}
	}
	now := t0
	obs := func(i int) Observation {
		v := &vals[(i+int(now.Unix()/15))%variants]
		ss := samples[i]
		for k := range ss {
			ss[k].T, ss[k].V = now, v[k%5]
		}
		return Observation{Ready: e.States[i].Desired, Samples: ss}
	}
	e.Step(now, obs) // the first tick sizes scratch buffers
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapAlloc) / (1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(15 * time.Second)
		if got := len(e.Step(now, obs)); got != n {
			b.Fatalf("%d decisions, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/group")
	b.ReportMetric(heap, "heap-MiB")
}

// BenchmarkTick is the quality bar: 100,000 groups × 5 signals per tick.
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) { benchTicks(b, n, benchGroup) })
	}
}

// BenchmarkTickDerived adds a derived signal read by a policy: expressions
// run in the expr VM and allocate; this shows what they cost.
func BenchmarkTickDerived(b *testing.B) {
	body := benchGroup + "  \n"
	body = replaceOnce(body, "latency: {}}", "latency: {}, busy: {expr: \"max(cpu, mem)\"}}")
	body = replaceOnce(body, "target: {signal: cpu,", "target: {signal: busy,")
	benchTicks(b, 100_000, body)
}

func replaceOnce(s, old, repl string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + repl + s[i+len(old):]
		}
	}
	panic("replaceOnce: " + old + " not found")
}

// queueGroup is the closed-loop simulator's benchmark group: one queue
// policy on a backlog (here drawn in [0, 1), so capacity swings between
// 1 and 100), scale-in stabilized over five minutes.
const queueGroup = `
name: g
capacity: {min: 1, max: 200, initial: 10}
interval: 15s
signals: {backlog: {stale: 1m}}
policies: [{queue: {signal: backlog, per_instance: 0.01}}]
behavior: {down: {window: 5m}}
`

// BenchmarkTickQueue is a tick of 1,000 queue groups, the simulator's
// per-step engine work.
func BenchmarkTickQueue(b *testing.B) { benchTicks(b, 1_000, queueGroup) }
