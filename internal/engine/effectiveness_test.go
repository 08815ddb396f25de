package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// effGroup is a group whose queue policy recommends the value of "want" and
// whose throughput signal is "tput"; effectiveness is behavior.up's key
// (empty: off).
func effGroup(initial int, effectiveness string) string {
	up := "{tolerance: 0, limits: []}"
	if effectiveness != "" {
		up = "{tolerance: 0, limits: [], effectiveness: " + effectiveness + "}"
	}
	return fmt.Sprintf(`
name: g
capacity: {min: 0, max: 100, initial: %d}
signals: {want: {stale: 1h}, tput: {stale: 1h}}
policies:
  - queue: {signal: want, per_instance: 1}
behavior:
  up: %s
  down: {tolerance: 0, window: 0s, limits: []}
`, initial, up)
}

func wt(want, tput float64) map[string]float64 { return map[string]float64{"want": want, "tput": tput} }

// effTick is one evaluation and what it should show: the result, the
// binding stage and reason fragment, and the notes.
type effTick struct {
	at      time.Duration
	values  map[string]float64
	want    int
	bound   model.Stage
	because string
	notes   []string
}

func playEff(t *testing.T, r *runner, ticks []effTick) {
	t.Helper()
	for _, tk := range ticks {
		d := r.at(tk.at, tk.values)
		s, _ := d.Bound()
		var notes []string
		for _, n := range d.Notes {
			notes = append(notes, n.String())
		}
		if d.Desired != tk.want || s.Stage != tk.bound || !strings.Contains(d.Reason(), tk.because) {
			t.Fatalf("at %v: desired %d bound %q reason %q; want %d bound %q reason containing %q\n%s",
				tk.at, d.Desired, s.Stage, d.Reason(), tk.want, tk.bound, tk.because, explain(d))
		}
		if diff := cmp.Diff(tk.notes, notes); diff != "" {
			t.Fatalf("at %v: notes (-want +got):\n%s\n%s", tk.at, diff, explain(d))
		}
	}
}

const (
	judgedIneffective = "scale-up 8 → 12 ineffective: tput 1000 → 1010, 2% of the expected rise (threshold 10%): scale-out blocked"
	blocking          = "ineffective scale-up 8 → 12: tput 1000 → 1010, 2% of the expected rise (threshold 10%): no scale-out"
)

// A scale-out from 8 to 12 that raised throughput from 1000 to 1010 brought
// 2% of the expected rise (to 1500): scale-out stops there, scale-in goes on.
func TestIneffectiveScaleUpBlocks(t *testing.T) {
	r := newRunner(t, effGroup(8, "{signal: tput, after: 2m}"))
	playEff(t, r, []effTick{
		{at: 0, values: wt(12, 1000), want: 12, because: "= 12"},
		// Not judged before after has passed.
		{at: time.Minute, values: wt(16, 1005), want: 16, because: "= 16"},
		{at: 2 * time.Minute, values: wt(20, 1010), want: 16, bound: model.StageGuard,
			because: blocking, notes: []string{judgedIneffective}},
		{at: 3 * time.Minute, values: wt(30, 1050), want: 16, bound: model.StageGuard, because: blocking},
		// Scale-in is not affected, and lifts the block.
		{at: 4 * time.Minute, values: wt(10, 1050), want: 10, because: "= 10",
			notes: []string{"scale-in 16 → 10 lifts the block of ineffective scale-up 8 → 12"}},
		{at: 5 * time.Minute, values: wt(14, 1050), want: 14, because: "= 14"},
	})
}

func TestEffectiveScaleUpDoesNotBlock(t *testing.T) {
	r := newRunner(t, effGroup(8, "{signal: tput, after: 2m}"))
	playEff(t, r, []effTick{
		{at: 0, values: wt(12, 1000), want: 12},
		{at: 2 * time.Minute, values: wt(16, 1400), want: 16, because: "= 16",
			notes: []string{"scale-up 8 → 12 effective: tput 1000 → 1400, 80% of the expected rise (threshold 10%)"}},
		// The threshold exactly: 12 → 16 from 1400 expects +466.7; +46.7 is 10%.
		{at: 4 * time.Minute, values: wt(20, 1400+1400.0/3/10), want: 20,
			notes: []string{"scale-up 12 → 16 effective: tput 1400 → 1446.667, 10% of the expected rise (threshold 10%)"}},
	})
}

func TestIneffectiveBlockLifts(t *testing.T) {
	judge := []effTick{
		{at: 0, values: wt(12, 1000), want: 12},
		{at: 2 * time.Minute, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking,
			notes: []string{judgedIneffective}},
	}
	tests := []struct {
		name  string
		eff   string
		ticks []effTick
	}{
		{
			name: "throughput rises by threshold without more instances",
			eff:  "{signal: tput, after: 2m}",
			ticks: []effTick{
				{at: 3 * time.Minute, values: wt(16, 1110), want: 12, bound: model.StageGuard, because: blocking},
				{at: 4 * time.Minute, values: wt(16, 1111), want: 16, because: "= 16",
					notes: []string{"tput 1111 ≥ 1111 (1010 + 10%) without more instances: scale-out allowed again"}},
				// That scale-out is judged in turn, from 1111.
				{at: 6 * time.Minute, values: wt(20, 1120), want: 16, bound: model.StageGuard,
					because: "ineffective scale-up 12 → 16: tput 1111 → 1120, 2.4% of the expected rise",
					notes:   []string{"scale-up 12 → 16 ineffective: tput 1111 → 1120, 2.4% of the expected rise (threshold 10%): scale-out blocked"}},
			},
		},
		{
			name: "block time passes",
			eff:  "{signal: tput, after: 2m, block: 30m}",
			ticks: []effTick{
				{at: 31 * time.Minute, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking},
				{at: 32 * time.Minute, values: wt(16, 1010), want: 16,
					notes: []string{"ineffective scale-up 8 → 12 has blocked scale-out for 30m: one more is allowed, and judged"}},
				{at: 34 * time.Minute, values: wt(20, 1010), want: 16, bound: model.StageGuard,
					because: "ineffective scale-up 12 → 16: tput 1010 → 1010, 0% of the expected rise",
					notes:   []string{"scale-up 12 → 16 ineffective: tput 1010 → 1010, 0% of the expected rise (threshold 10%): scale-out blocked"}},
			},
		},
		{
			name: "block: 0s does not expire",
			eff:  "{signal: tput, after: 2m, block: 0s}",
			ticks: []effTick{
				{at: 48 * time.Hour, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking},
			},
		},
		{
			name: "default block does not expire",
			eff:  "{signal: tput, after: 2m}",
			ticks: []effTick{
				{at: 48 * time.Hour, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking},
			},
		},
		{
			name: "block 1h",
			eff:  "{signal: tput, after: 2m, block: 1h}",
			ticks: []effTick{
				{at: 61 * time.Minute, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking},
				{at: 62 * time.Minute, values: wt(16, 1010), want: 16,
					notes: []string{"ineffective scale-up 8 → 12 has blocked scale-out for 1h: one more is allowed, and judged"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, effGroup(8, tt.eff))
			playEff(t, r, append(append([]effTick(nil), judge...), tt.ticks...))
		})
	}
}

// What the judgement waits for, and when there is nothing to judge.
func TestEffectivenessJudgement(t *testing.T) {
	tests := []struct {
		name    string
		initial int
		eff     string
		ticks   []effTick
	}{
		{
			name: "off by default", initial: 8, eff: "",
			ticks: []effTick{
				{at: 0, values: wt(12, 1000), want: 12},
				{at: 2 * time.Minute, values: wt(16, 1000), want: 16},
				{at: 4 * time.Minute, values: wt(20, 1000), want: 20},
			},
		},
		{
			name: "after defaults to boot + warmup", initial: 8, eff: "{signal: tput}",
			ticks: []effTick{
				{at: 0, values: wt(12, 1000), want: 12},
				{at: 29 * time.Second, values: wt(12, 1000), want: 12},
				{at: 30 * time.Second, values: wt(16, 1000), want: 12, bound: model.StageGuard,
					because: "ineffective scale-up 8 → 12: tput 1000 → 1000, 0%",
					notes:   []string{"scale-up 8 → 12 ineffective: tput 1000 → 1000, 0% of the expected rise (threshold 10%): scale-out blocked"}},
			},
		},
		{
			name: "from zero there is nothing to expect", initial: 0, eff: "{signal: tput, after: 1m}",
			ticks: []effTick{
				{at: 0, values: wt(4, 1000), want: 4},
				{at: 2 * time.Minute, values: wt(8, 1000), want: 8},
			},
		},
		{
			name: "without throughput there is nothing to expect", initial: 8, eff: "{signal: tput, after: 1m}",
			ticks: []effTick{
				{at: 0, values: wt(12, 0), want: 12},
				{at: 2 * time.Minute, values: wt(16, 0), want: 16},
			},
		},
		{
			name: "waits for a throughput value", initial: 8, eff: "{signal: tput, after: 1m}",
			ticks: []effTick{
				{at: 0, values: wt(12, 1000), want: 12},
				{at: 2 * time.Hour, values: want(12), want: 12},
				{at: 2*time.Hour + time.Minute, values: wt(16, 1000), want: 12, bound: model.StageGuard,
					because: "ineffective scale-up 8 → 12",
					notes:   []string{"scale-up 8 → 12 ineffective: tput 1000 → 1000, 0% of the expected rise (threshold 10%): scale-out blocked"}},
			},
		},
		{
			name: "throughput that fell is ineffective", initial: 8, eff: "{signal: tput, after: 1m, threshold: 0.5}",
			ticks: []effTick{
				{at: 0, values: wt(12, 1000), want: 12},
				{at: time.Minute, values: wt(16, 900), want: 12, bound: model.StageGuard,
					because: "ineffective scale-up 8 → 12: tput 1000 → 900, -20% of the expected rise (threshold 50%): no scale-out",
					notes:   []string{"scale-up 8 → 12 ineffective: tput 1000 → 900, -20% of the expected rise (threshold 50%): scale-out blocked"}},
				// The bottleneck's reference is the higher of before and after.
				{at: 2 * time.Minute, values: wt(16, 1499), want: 12, bound: model.StageGuard},
				{at: 3 * time.Minute, values: wt(16, 1500), want: 16,
					notes: []string{"tput 1500 ≥ 1500 (1000 + 50%) without more instances: scale-out allowed again"}},
			},
		},
		{
			// A group growing every tick by its rate limit: the first
			// scale-out is judged on time; the instances added since count
			// toward the throughput once ready, not toward the expectation.
			name: "scale-outs before the judgement", initial: 8, eff: "{signal: tput, after: 1m}",
			ticks: []effTick{
				{at: 0, values: wt(12, 1000), want: 12},
				{at: 30 * time.Second, values: wt(16, 1000), want: 16},
				{at: time.Minute, values: wt(20, 1040), want: 16, bound: model.StageGuard,
					because: "ineffective scale-up 8 → 12: tput 1000 → 1040, 8% of the expected rise",
					notes:   []string{"scale-up 8 → 12 ineffective: tput 1000 → 1040, 8% of the expected rise (threshold 10%): scale-out blocked"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			playEff(t, newRunner(t, effGroup(tt.initial, tt.eff)), tt.ticks)
		})
	}
}

// The judgement waits for the instances the scale-out added to be ready.
func TestEffectivenessWaitsForReady(t *testing.T) {
	g := compile(t, effGroup(8, "{signal: tput, after: 1m}"))
	st := NewState(g)
	want, tput := g.index["want"], g.index["tput"]
	var d model.Decision
	eval := func(at time.Duration, ready int, w, tp float64) {
		now := t0.Add(at)
		g.Evaluate(st, Observation{Now: now, Ready: ready, Samples: []Sample{
			{Signal: want, T: now, V: w}, {Signal: tput, T: now, V: tp}}}, &d)
		g.Commit(st, &d)
	}
	eval(0, 8, 12, 1000)
	eval(2*time.Minute, 11, 16, 1000)
	if d.Desired != 16 || len(d.Notes) != 0 {
		t.Fatalf("judged before the instances were ready:\n%s", explain(&d))
	}
	eval(3*time.Minute, 16, 20, 1000)
	if d.Desired != 16 || len(d.Notes) != 1 {
		t.Fatalf("want the scale-out 8 → 12 judged ineffective once ready:\n%s", explain(&d))
	}
}

// A pending judgement and a block survive a restart through Memory; a
// memory saved before ebb judged scale-outs restores without them.
func TestEffectivenessMemory(t *testing.T) {
	body := effGroup(8, "{signal: tput, after: 2m}")
	r := newRunner(t, body)
	r.at(0, wt(12, 1000))
	m := r.st.Memory()
	wantPending := &ScaleOut{Signal: "tput", From: 8, To: 12, At: t0, Base: 1000}
	if diff := cmp.Diff(wantPending, m.Pending); diff != "" {
		t.Fatalf("pending (-want +got):\n%s", diff)
	}

	// A new process restores it and judges it.
	r2 := newRunner(t, body)
	r2.g.Restore(r2.st, roundTrip(t, m))
	playEff(t, r2, []effTick{
		{at: 2 * time.Minute, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking,
			notes: []string{judgedIneffective}},
	})

	// And a block survives too.
	r3 := newRunner(t, body)
	r3.g.Restore(r3.st, roundTrip(t, r2.st.Memory()))
	playEff(t, r3, []effTick{
		{at: 3 * time.Minute, values: wt(16, 1010), want: 12, bound: model.StageGuard, because: blocking},
	})

	tests := []struct {
		name string
		body string
		mem  string
	}{
		{"memory saved before effectiveness", body, `{"desired": 12}`},
		{"the group no longer judges", effGroup(8, ""), mustJSON(t, r2.st.Memory())},
		{"judged by another signal", strings.Replace(body, "signal: tput", "signal: want", 1), mustJSON(t, r2.st.Memory())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, tt.body)
			r.g.Restore(r.st, fromJSON(t, tt.mem))
			if r.st.pending != nil || r.st.blocked != nil {
				t.Fatalf("restored pending %+v blocked %+v", r.st.pending, r.st.blocked)
			}
			playEff(t, r, []effTick{{at: 3 * time.Minute, values: wt(16, 1010), want: 16}})
		})
	}
}

// An operator's scale command ends the judgement.
func TestEffectivenessSetDesired(t *testing.T) {
	r := newRunner(t, effGroup(8, "{signal: tput, after: 2m}"))
	r.at(0, wt(12, 1000))
	r.at(2*time.Minute, wt(16, 1010))
	if r.st.blocked == nil {
		t.Fatal("want a block")
	}
	r.g.SetDesired(r.st, t0.Add(3*time.Minute), 14)
	playEff(t, r, []effTick{{at: 4 * time.Minute, values: wt(16, 1010), want: 16}})
}

func mustJSON(t *testing.T, m Memory) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fromJSON(t *testing.T, s string) Memory {
	t.Helper()
	var m Memory
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// roundTrip is what the store does to a memory: JSON out and back.
func roundTrip(t *testing.T, m Memory) Memory { return fromJSON(t, mustJSON(t, m)) }

// The example in docs/engine.md: a scale-out that raised throughput by 1%
// of the 50% expected, and the next one it blocks.
func TestIneffectiveScaleUpExplained(t *testing.T) {
	r := newRunner(t, `
name: ingest
capacity: {min: 2, max: 40, initial: 8}
signals: {backlog: {stale: 1h}, processed: {stale: 1h}}
policies:
  - queue: {signal: backlog, per_instance: 1000}
behavior:
  up: {effectiveness: {signal: processed, after: 2m}}
`)
	r.at(0, map[string]float64{"backlog": 12000, "processed": 1000})
	d := r.at(2*time.Minute, map[string]float64{"backlog": 16500, "processed": 1010})
	want := `ingest at 2026-01-05T00:02:00Z: 12 → 12 (hold)
  inputs:  backlog=16500  processed=1010
  policies:
    queue(backlog)  17  backlog: 16500 items at 1000 per instance: ceil(16500 / 1000) = 17
  combined: 17: queue(backlog) asks for 17, the largest scale-out
  note: scale-up 8 → 12 ineffective: processed 1000 → 1010, 2% of the expected rise (threshold 10%): scale-out blocked
  guard: 17 → 12: ineffective scale-up 8 → 12: processed 1000 → 1010, 2% of the expected rise (threshold 10%): no scale-out
  bounds: min 2, max 40
  result: 12, bound by guard
`
	if diff := cmp.Diff(want, explain(d)); diff != "" {
		t.Errorf("explanation (-want +got):\n%s", diff)
	}
}
