package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// randomGroup writes a valid group config from rng: random bounds, policies,
// one limit per direction, windows, cooldowns, datapoints and missing mode.
func randomGroup(rng *rand.Rand) (body string, upLimit, downLimit [2]int) {
	lo := rng.IntN(5)
	hi := lo + 1 + rng.IntN(60)
	upLimit = [2]int{1 + rng.IntN(8), 15 * (1 + rng.IntN(8))}   // count, period seconds
	downLimit = [2]int{1 + rng.IntN(8), 15 * (1 + rng.IntN(8))} // count, period seconds
	policies := []string{
		"- target: {signal: cpu, value: %.2f}",
		"- queue: {signal: depth, per_instance: %.0f, activation: 1}",
		"- simple: {signal: cpu, above: 0.8, change: 2, datapoints: {need: 2, of: 3}}",
		"- simple: {signal: cpu, below: 0.2, change: -1}",
		"- step: {signal: cpu, threshold: 0.5, adjustment: percent, min_magnitude: 1, steps: [{from: 0, to: 0.2, adjust: 10}, {from: 0.2, adjust: 50}]}",
		"- fixed: {desired: %d}",
		"- target: {signal: busy, value: 0.5}",
		"- streaming: {input_rate: depth, throughput: tput, backlog: depth, cpu: cpu}",
	}
	var ps []string
	for k, i := range rng.Perm(len(policies))[:1+rng.IntN(4)] {
		p := strings.Replace(policies[i], "- ", fmt.Sprintf("- name: p%d\n    ", k), 1)
		switch {
		case strings.Contains(p, "%.2f"):
			p = fmt.Sprintf(p, 0.1+rng.Float64())
		case strings.Contains(p, "%.0f"):
			p = fmt.Sprintf(p, float64(1+rng.IntN(100)))
		case strings.Contains(p, "%d"):
			p = fmt.Sprintf(p, rng.IntN(hi+5))
		}
		ps = append(ps, p)
	}
	modes := []string{"hold", "scale_out", "{treat_as: 0.5}", "{fallback: 3}"}
	body = fmt.Sprintf(`
name: g
capacity: {min: %d, max: %d}
signals: {cpu: {stale: 30s}, depth: {stale: 30s}, tput: {}, busy: {expr: "max(cpu, deriv(depth))"}}
policies:
  %s
behavior:
  up: {window: %ds, limits: [{count: %d, per: %ds}], cooldown: %ds, datapoints: {need: %d, of: 3}}
  down: {window: %ds, limits: [{count: %d, per: %ds}], cooldown: %ds}
  missing: %s
`, lo, hi, strings.Join(ps, "\n  "),
		15*rng.IntN(4), upLimit[0], upLimit[1], 15*rng.IntN(3), 1+rng.IntN(3),
		15*rng.IntN(10), downLimit[0], downLimit[1], 15*rng.IntN(3),
		modes[rng.IntN(len(modes))])
	if rng.IntN(2) == 0 { // judge scale-outs by throughput
		eff := fmt.Sprintf(", effectiveness: {signal: tput, threshold: %.2f, after: %ds, block: %ds}",
			0.05+0.95*rng.Float64(), 15*rng.IntN(4), 60*rng.IntN(3))
		body = strings.Replace(body, "of: 3}}\n  down:", "of: 3}"+eff+"}\n  down:", 1)
	}
	return body, upLimit, downLimit
}

// randomValue is a signal value, sometimes absent, huge, zero or not a number.
func randomValue(rng *rand.Rand) (float64, bool) {
	switch rng.IntN(12) {
	case 0:
		return 0, false
	case 1:
		return math.NaN(), true
	case 2:
		return math.Inf(1), true
	case 3:
		return 1e300, true
	case 4:
		return 0, true
	case 5:
		return -rng.Float64(), true
	default:
		return rng.Float64() * math.Pow(10, float64(rng.IntN(4))), true
	}
}

type change struct {
	t     time.Time
	delta int
}

// FuzzEngineInvariants drives a random group through random signals and
// checks, every tick: min ≤ desired ≤ max; rate limits hold unless a clamp
// overrode them (checked against a naive recount of past changes); no
// scale-out while an ineffective one blocks it, unless a clamp forces it;
// every input is a finite number; and the same run twice gives the same
// decisions.
func FuzzEngineInvariants(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3, 42, 1234, 99999} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		body, upLimit, downLimit := randomGroup(rand.New(rand.NewPCG(seed, 1)))
		first := runRandom(t, body, seed, upLimit, downLimit)
		second := runRandom(t, body, seed, upLimit, downLimit)
		if first != second {
			t.Fatalf("not deterministic for seed %d:\n%s", seed, body)
		}
	})
}

func runRandom(t *testing.T, body string, seed uint64, upLimit, downLimit [2]int) string {
	g := compile(t, body)
	st := NewState(g)
	rng := rand.New(rand.NewPCG(seed, 2))
	names := []string{"cpu", "depth", "tput"}
	var history []change
	var trace strings.Builder
	var d model.Decision
	now := t0
	for tick := 0; tick < 120; tick++ {
		now = now.Add(time.Duration(1+rng.IntN(30)) * time.Second)
		obs := Observation{Now: now, Ready: rng.IntN(st.Desired + 1)}
		for _, n := range names {
			if v, ok := randomValue(rng); ok {
				i, _ := g.SignalIndex(n)
				obs.Samples = append(obs.Samples, Sample{Signal: i, T: now, V: v})
			}
		}
		g.Evaluate(st, obs, &d)
		if d.Desired < d.Min || d.Desired > d.Max || d.Min < 0 {
			t.Fatalf("tick %d: desired %d outside [%d, %d]\n%s\n%s", tick, d.Desired, d.Min, d.Max, body, explain(&d))
		}
		for _, in := range d.Inputs {
			if math.IsNaN(in.Value) || math.IsInf(in.Value, 0) {
				t.Fatalf("tick %d: input %s = %v\n%s", tick, in.Name, in.Value, explain(&d))
			}
		}
		clamped := false
		if s, ok := d.Bound(); ok && s.Stage == model.StageClamp {
			clamped = true
		}
		if !clamped && d.Desired != d.Current {
			limit := upLimit
			if d.Desired < d.Current {
				limit = downLimit
			}
			start := d.Current
			for _, c := range history {
				if now.Sub(c.t) < time.Duration(limit[1])*time.Second {
					start -= c.delta
				}
			}
			if d.Desired > d.Current && d.Desired > start+limit[0] ||
				d.Desired < d.Current && d.Desired < start-limit[0] {
				t.Fatalf("tick %d: %d → %d breaks the limit %d per %ds from %d\n%s\n%s",
					tick, d.Current, d.Desired, limit[0], limit[1], start, body, explain(&d))
			}
		}
		if st.blocked != nil && d.Desired > d.Current && !clamped {
			t.Fatalf("tick %d: %d → %d while an ineffective scale-out blocks scale-out\n%s\n%s",
				tick, d.Current, d.Desired, body, explain(&d))
		}
		if d.Desired != d.Current {
			history = append(history, change{t: now, delta: d.Desired - d.Current})
		}
		g.Commit(st, &d)
		fmt.Fprintf(&trace, "%d %d %s\n", tick, d.Desired, d.Reason())
	}
	return trace.String()
}
