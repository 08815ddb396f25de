package baseline

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// runner drives a baseline's group through ebb's engine tick by tick, all
// instances ready, committing every decision.
type runner struct {
	t  *testing.T
	g  *engine.Group
	st *engine.State
	d  model.Decision
}

// start applies the named baseline to a group of the given capacity and
// 60 s boot, for a workload kind at its defaults changed by tweak.
func start(t *testing.T, name, kind, capacity string, tweak func(*workload.Config)) *runner {
	t.Helper()
	f, err := config.Parse("g.yaml", []byte(fmt.Sprintf(`groups:
  - name: g
    capacity: %s
    policies: [{fixed: {desired: 1}}]
    lifecycle: {launch: {boot: 60s}}
`, capacity)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := workload.Defaults(kind)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&w)
	}
	gc, err := Apply(name, f.Groups[0], w)
	if err != nil {
		t.Fatalf("Apply %s: %v", name, err)
	}
	g, err := engine.Compile(gc)
	if err != nil {
		t.Fatalf("Compile %s: %v", name, err)
	}
	return &runner{t: t, g: g, st: engine.NewState(g)}
}

// at evaluates at t0+sec with the signal values and returns the desired
// capacity.
func (r *runner) at(sec int, values map[string]float64) int {
	r.t.Helper()
	now := t0.Add(time.Duration(sec) * time.Second)
	obs := engine.Observation{Now: now, Ready: r.st.Desired}
	for name, v := range values {
		i, ok := r.g.SignalIndex(name)
		if !ok {
			r.t.Fatalf("no signal %q", name)
		}
		obs.Samples = append(obs.Samples, engine.Sample{Signal: i, T: now, V: v})
	}
	r.g.Evaluate(r.st, obs, &r.d)
	r.g.Commit(r.st, &r.d)
	return r.d.Desired
}

func (r *runner) explain() string {
	var b strings.Builder
	r.d.WriteText(&b)
	return b.String()
}

type tick struct {
	sec    int
	values map[string]float64
	want   int
}

func (r *runner) play(ticks []tick) {
	r.t.Helper()
	for _, tk := range ticks {
		if got := r.at(tk.sec, tk.values); got != tk.want {
			r.t.Fatalf("at %ds with %v: desired %d, want %d\n%s", tk.sec, tk.values, got, tk.want, r.explain())
		}
	}
}

func util(v float64) map[string]float64 { return map[string]float64{"utilization": v} }

// The Kubernetes HPA documentation's worked example: at 200m against a
// target of 100m the replicas double; at 50m they halve; within the 0.1
// tolerance nothing changes. The service target is utilization 0.7, so
// 1.4 is the 200m case and 0.35 the 50m one. Default behavior: a
// scale-up adds at most max(100%, 4 pods) per 15 s; a scale-down waits for
// the 300 s window.
func TestHPADocumentedExample(t *testing.T) {
	t.Run("double, tolerate, then halve after the window", func(t *testing.T) {
		r := start(t, "hpa", "service", "{min: 1, max: 100, initial: 4}", nil)
		r.play([]tick{
			{sec: 0, values: util(1.4), want: 8},
			{sec: 15, values: util(0.75), want: 8},  // ratio 1.07: within 0.1
			{sec: 30, values: util(0.35), want: 8},  // ratio 0.5: the window still holds 8
			{sec: 300, values: util(0.35), want: 8}, // 8 was recommended at 15 s
			{sec: 315, values: util(0.35), want: 4}, // every recommendation of the last 300 s is 4
		})
	})
	t.Run("scale-up limited to max(100%, 4 pods) per 15s", func(t *testing.T) {
		for _, tt := range []struct {
			initial, want int
		}{{2, 6}, {10, 20}} {
			r := start(t, "hpa", "service", fmt.Sprintf("{min: 1, max: 100, initial: %d}", tt.initial), nil)
			if got := r.at(0, util(3.5)); got != tt.want { // ratio 5
				t.Errorf("from %d at ratio 5: %d, want %d\n%s", tt.initial, got, tt.want, r.explain())
			}
		}
	})
	t.Run("minReplicas is at least 1", func(t *testing.T) {
		r := start(t, "hpa", "service", "{min: 0, max: 10}", nil)
		if r.g.Min != 1 || r.g.Interval != 15*time.Second {
			t.Fatalf("min %d interval %s; want 1 and 15s", r.g.Min, r.g.Interval)
		}
	})
}

// KEDA's SQS scaler documentation: with a queueLength target of 10 and 30
// messages in the queue the scaler scales to 3 pods. With
// minReplicaCount 0 the group goes back to 0 cooldownPeriod (300 s) after
// the trigger was last active, and the first message wakes it.
func TestKEDADocumentedExample(t *testing.T) {
	ten := func(w *workload.Config) { w.Queue.PerWorker = 10 }
	backlog := func(v float64) map[string]float64 { return map[string]float64{"backlog": v} }
	r := start(t, "keda", "queue", "{min: 0, max: 100, initial: 0}", ten)
	r.play([]tick{
		{sec: 0, values: backlog(30), want: 3},
		{sec: 15, values: backlog(0), want: 3},
		{sec: 285, values: backlog(0), want: 3},
		{sec: 300, values: backlog(0), want: 0}, // 300 s since the trigger was last active
		{sec: 315, values: backlog(1), want: 1}, // activation threshold 0: the first item wakes it
	})
	if r.g.Min != 0 {
		t.Errorf("min %d; want the group's 0", r.g.Min)
	}
}

// AWS target tracking: the scale-out alarm needs 3 one-minute datapoints
// above the target, the scale-in alarm 15 below 90% of it; capacity moves
// in proportion to the metric. At 1.5× the target 10 instances become 15;
// at 0.6 (below 0.9 × 0.7 = 0.63) they scale in only on the 15th minute.
func TestAWSTargetTrackingAlarms(t *testing.T) {
	r := start(t, "aws-target", "service", "{min: 1, max: 100, initial: 10}", nil)
	ticks := []tick{
		{sec: 0, values: util(1.05), want: 10},
		{sec: 60, values: util(1.05), want: 10},
		{sec: 120, values: util(1.05), want: 15}, // 3 of 3: ceil(10 × 1.05 / 0.7)
	}
	for m := 3; m <= 16; m++ {
		ticks = append(ticks, tick{sec: 60 * m, values: util(0.6), want: 15})
	}
	// The 15th minute below 0.63: ceil(15 × 0.6 / 0.7) = 13.
	ticks = append(ticks, tick{sec: 60 * 17, values: util(0.6), want: 13})
	r.play(ticks)

	// Between 0.63 and 0.7 the scale-in alarm never fires.
	r = start(t, "aws-target", "service", "{min: 1, max: 100, initial: 10}", nil)
	for m := 0; m < 30; m++ {
		if got := r.at(60*m, util(0.65)); got != 10 {
			t.Fatalf("minute %d at 0.65: %d, want 10\n%s", m, got, r.explain())
		}
	}
}

// AWS step scaling with ebb's step table around the target 0.7 (+1 from
// 10% over, +2 from 20%, +3 from 40%; −1 at or below 80%). The Application
// Auto Scaling API reference's cooldown example: a step adds 2, the alarm
// fires again within the cooldown at the +3 step, and only 1 more is added
// (the 2 count toward the current capacity). Scale-in waits for the 300 s
// cooldown.
func TestAWSStepCooldownExample(t *testing.T) {
	r := start(t, "aws-step", "service", "{min: 1, max: 100, initial: 10}", nil)
	r.play([]tick{
		{sec: 0, values: util(0.9), want: 12},    // breach 0.2 = 29% of 0.7: +2
		{sec: 60, values: util(1.0), want: 13},   // breach 43%: +3 from the 10 before: adds 1
		{sec: 120, values: util(0.6), want: 13},  // between 0.56 and 0.7: no alarm
		{sec: 180, values: util(0.5), want: 13},  // ≤ 0.56, but within 300 s of the last scaling
		{sec: 360, values: util(0.5), want: 12},  // −1
		{sec: 420, values: util(0.75), want: 12}, // 7% over: the +0 step
	})
}

// The queue's step metric is backlog per instance.
func TestAWSStepQueuePerInstance(t *testing.T) {
	r := start(t, "aws-step", "queue", "{min: 1, max: 100, initial: 10}", nil)
	// per_worker 4: 10 instances with 60 jobs hold 6 each, 50% over 4: +3.
	if got := r.at(0, map[string]float64{"backlog": 60}); got != 13 {
		t.Fatalf("desired %d, want 13\n%s", got, r.explain())
	}
}

// The Flink operator's target capacity, AutoScalerUtils:
// lag/catch-up + input×restart/catch-up + input/target-utilization. Ten
// workers fully busy process 1000 records/s (100 each) against 1000/s
// arriving with 360,000 records of lag: 360000/1800 + 1000×300/1800 +
// 1000/0.7 = 1795 records/s, so ceil(1795 / 100) = 18 workers. Going
// down, the scale-down interval (1 h) holds the parallelism and the max
// factor 0.6 keeps at least 40% of it.
func TestFlinkTargetCapacity(t *testing.T) {
	busy := func(in, through, busy, lag float64) map[string]float64 {
		return map[string]float64{"input_rate": in, "throughput": through, "busy": busy, "backlog": lag}
	}
	r := start(t, "flink", "streaming", "{min: 1, max: 100, initial: 10}", nil)
	var got int
	for m := 0; m < 3; m++ {
		got = r.at(60*m, busy(1000, 1000, 1, 360000))
		if got != 10 {
			break
		}
	}
	if got != 18 {
		t.Fatalf("desired %d, want 18\n%s", got, r.explain())
	}

	// 100 records/s on 10 workers 10% busy: 100×300/1800 + 100/0.7 = 159.5
	// records/s, 2 workers; the max factor allows 10 → 4.
	r = start(t, "flink", "streaming", "{min: 1, max: 100, initial: 10}", nil)
	for m := 0; m < 60; m++ {
		if got := r.at(60*m, busy(100, 100, 0.1, 0)); got != 10 {
			t.Fatalf("minute %d: desired %d; the scale-down interval holds 10 for an hour\n%s", m, got, r.explain())
		}
	}
	if got := r.at(3600, busy(100, 100, 0.1, 0)); got != 4 {
		t.Fatalf("after an hour: desired %d, want 4 (max factor 0.6)\n%s", got, r.explain())
	}
}

func TestApplyErrors(t *testing.T) {
	f, err := config.Parse("g.yaml", []byte("groups:\n  - {name: g, capacity: {min: 1, max: 5}, policies: [{fixed: {desired: 1}}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, kind string
		want       error
	}{
		{"nomad", "queue", ErrUnknown},
		{"flink", "queue", ErrNotApplicable},
		{"keda", "service", ErrNotApplicable},
	} {
		w, _ := workload.Defaults(tt.kind)
		if _, err := Apply(tt.name, f.Groups[0], w); !errors.Is(err, tt.want) {
			t.Errorf("%s on %s: %v, want %v", tt.name, tt.kind, err, tt.want)
		}
	}
	// Every baseline that applies to a kind makes a group ebb accepts.
	for _, kind := range workload.Kinds {
		w, _ := workload.Defaults(kind)
		for _, name := range Names {
			if Check(name, kind) != nil {
				continue
			}
			g, err := Apply(name, f.Groups[0], w)
			if err != nil {
				t.Errorf("%s on %s: %v", name, kind, err)
				continue
			}
			if _, err := engine.Compile(g); err != nil {
				t.Errorf("%s on %s: %v", name, kind, err)
			}
		}
	}
}

// A preset keeps what is the group's own (name, lifecycle, max, initial
// capacity) and drops its guards.
func TestApplyKeepsTheGroup(t *testing.T) {
	f, err := config.Parse("g.yaml", []byte(`groups:
  - name: w
    capacity: {min: 0, max: 30, initial: 5}
    signals: {backlog: {}, db: {}}
    policies: [{queue: {signal: backlog, per_instance: 3}}]
    guards: [{signal: db, above: 80}]
    lifecycle: {launch: {boot: 90s}, drain: {timeout: 7m}}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := workload.Defaults("queue")
	for _, name := range []string{"hpa", "keda", "aws-target", "aws-step", "aws-predictive"} {
		g, err := Apply(name, f.Groups[0], w)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g.Name != "w" || g.Capacity.Max != 30 || g.Capacity.Initial == nil || *g.Capacity.Initial != 5 ||
			g.Lifecycle.Launch.Boot.D() != 90*time.Second || g.Lifecycle.Drain.Timeout.D() != 7*time.Minute || g.Guards != nil {
			t.Errorf("%s: %+v", name, g)
		}
		if _, ok := g.Signals["db"]; ok {
			t.Errorf("%s reads the group's db signal", name)
		}
	}
	// Only KEDA follows the group down to 0; the HPA keeps 1.
	for name, want := range map[string]int{"hpa": 1, "keda": 0} {
		g, _ := Apply(name, f.Groups[0], w)
		if g.Capacity.Min != want {
			t.Errorf("%s: min %d, want %d", name, g.Capacity.Min, want)
		}
	}
}

// Within the Flink boundary (utilization 0.4 to 1.0 around the 0.7
// target) the job is left alone; above it, it scales up. Ten workers of
// 100 records/s each, no lag.
func TestFlinkBoundary(t *testing.T) {
	for _, tt := range []struct {
		busy float64
		want int
	}{
		// (950×300/1800 + 950/0.7) / 100 = 15.2 workers: ratio 1.52 > 1/0.7.
		{busy: 0.95, want: 16},
		// 12.8 and 7.2 workers: ratios 1.28 and 0.72, inside 0.57–1.43.
		{busy: 0.8, want: 10},
		{busy: 0.45, want: 10},
	} {
		r := start(t, "flink", "streaming", "{min: 1, max: 100, initial: 10}", nil)
		in := 1000 * tt.busy
		var got int
		for m := 0; m < 5; m++ {
			got = r.at(60*m, map[string]float64{"input_rate": in, "throughput": in, "busy": tt.busy, "backlog": 0})
		}
		if got != tt.want {
			t.Errorf("busy %v: desired %d, want %d\n%s", tt.busy, got, tt.want, r.explain())
		}
	}
}

// Each workload's arrival-rate signal and the load one instance takes at
// the preset's target, from the workload defaults.
func TestTargetForLoad(t *testing.T) {
	for _, tt := range []struct {
		kind, load string
		per        float64
	}{
		{"service", "rps", 70},                 // 0.7 × capacity_rps 100
		{"queue", "arrival_rate", 0.4},         // per_worker 4 ÷ 10 s
		{"streaming", "input_rate", 700},       // 0.7 × per_worker_rps 1000
		{"olap", "arrival_rate", 0.7 * 8 / 30}, // 0.7 × per_worker 8 ÷ 30 s
	} {
		w, err := workload.Defaults(tt.kind)
		if err != nil {
			t.Fatal(err)
		}
		got, err := TargetFor(w)
		if err != nil {
			t.Fatal(err)
		}
		if got.Load != tt.load || math.Abs(got.LoadPerInstance-tt.per) > 1e-12 {
			t.Errorf("%s: load %s at %v per instance, want %s at %v", tt.kind, got.Load, got.LoadPerInstance, tt.load, tt.per)
		}
	}
}

// dailyLoad is a service's load on every day: 700 rps (10 instances at
// the 70 rps one takes at utilization 0.7) until 06:00, rising 350 rps an
// hour to 2100 (30 instances) at 10:00, flat until 16:00, falling back to
// 700 by 20:00.
func dailyLoad(at time.Duration) float64 {
	switch h := math.Mod(at.Hours(), 24); {
	case h < 6:
		return 700
	case h < 10:
		return 700 + 350*(h-6)
	case h < 16:
		return 2100
	case h < 20:
		return 2100 - 350*(h-16)
	default:
		return 700
	}
}

// serve evaluates the service closed loop at t0+at: load rps on the
// current capacity (all ready, capacity_rps 100), rps only where the
// preset reads it. It returns the desired capacity.
func (r *runner) serve(at time.Duration, load float64) int {
	r.t.Helper()
	values := map[string]float64{"utilization": load / (float64(max(r.st.Desired, 1)) * 100)}
	if _, ok := r.g.SignalIndex("rps"); ok {
		values["rps"] = load
	}
	return r.at(int(at/time.Second), values)
}

// rec is the named policy's recommendation in the last decision.
func (r *runner) rec(name string) model.Recommendation {
	r.t.Helper()
	for _, p := range r.d.Policies {
		if p.Policy == name {
			return p
		}
	}
	r.t.Fatalf("no policy %q in the decision\n%s", name, r.explain())
	return model.Recommendation{}
}

// Evaluated at 30 s past each minute, so that an hour's mean is the load
// at its half hour.
const offset = 30 * time.Second

// Until a day of history, AWS predictive scaling has no forecast: the
// preset decides exactly as aws-target does.
func TestAWSPredictiveFirstDayIsTargetTracking(t *testing.T) {
	tt := start(t, "aws-target", "service", "{min: 1, max: 100, initial: 10}", nil)
	pr := start(t, "aws-predictive", "service", "{min: 1, max: 100, initial: 10}", nil)
	changes := 0
	for at := offset; at < 24*time.Hour; at += time.Minute {
		want := tt.serve(at, dailyLoad(at))
		if got := pr.serve(at, dailyLoad(at)); got != want {
			t.Fatalf("at %v: aws-predictive %d, aws-target %d\n%s", at, got, want, pr.explain())
		}
		if r := pr.rec("aws-predictive"); r.Opinion != model.Abstain {
			t.Fatalf("at %v: the forecast recommends %d before a day of history", at, r.Desired)
		}
		if tt.d.Desired != tt.d.Current {
			changes++
		}
	}
	if changes == 0 {
		t.Fatal("target tracking never scaled: the comparison shows nothing")
	}
}

// After a day of the same daily load, the preset launches ahead of the
// ramp: capacity rises before the load does, and on the ramp it is already
// what the load 300 s later (AWS's default SchedulingBufferTime) needs,
// where target tracking alone trails the load. It scales in only as target
// tracking asks, and not below it or the forecast.
func TestAWSPredictivePreScalesTheDailyRamp(t *testing.T) {
	const perInstance = 70.0
	tt := start(t, "aws-target", "service", "{min: 1, max: 100, initial: 10}", nil)
	pr := start(t, "aws-predictive", "service", "{min: 1, max: 100, initial: 10}", nil)
	for at := offset; at < 24*time.Hour; at += time.Minute {
		tt.serve(at, dailyLoad(at))
		pr.serve(at, dailyLoad(at))
	}
	day2 := map[string]map[time.Duration]int{"aws-target": {}, "aws-predictive": {}}
	scaleIns := 0
	for at := 24*time.Hour + offset; at < 48*time.Hour; at += time.Minute {
		load := dailyLoad(at)
		day2["aws-target"][at-24*time.Hour] = tt.serve(at, load)
		got := pr.serve(at, load)
		day2["aws-predictive"][at-24*time.Hour] = got
		if pr.d.Desired < pr.d.Current {
			scaleIns++
			target, forecast := pr.rec("aws-target"), pr.rec("aws-predictive")
			if got < target.Desired || (forecast.Opinion == model.Recommend && got < forecast.Desired) {
				t.Fatalf("day 2 %v: scaled in to %d, below target tracking's %d or the forecast's %d\n%s",
					at-24*time.Hour, got, target.Desired, forecast.Desired, pr.explain())
			}
		}
	}
	if scaleIns == 0 {
		t.Fatal("no scale-in on day 2: the evening fall was not followed")
	}

	// The first rise above the night's capacity: before 06:00 with the
	// forecast, after it without.
	firstRise := func(name string) time.Duration {
		m := day2[name]
		night := m[5*time.Hour+offset]
		for at := 5*time.Hour + offset; at < 12*time.Hour; at += time.Minute {
			if m[at] > night {
				return at
			}
		}
		t.Fatalf("%s: capacity never rose above %d", name, night)
		return 0
	}
	if at := firstRise("aws-predictive"); at >= 6*time.Hour {
		t.Errorf("aws-predictive first scales out at %v, after the load starts rising at 06:00", at)
	}
	if at := firstRise("aws-target"); at <= 6*time.Hour {
		t.Errorf("aws-target first scales out at %v, before the load rises", at)
	}

	// On the ramp (away from the hours where it bends), capacity is what
	// the load a buffer ahead needs.
	behind := 0
	for at := 6*time.Hour + 30*time.Minute + offset; at <= 9*time.Hour; at += time.Minute {
		need := int(math.Ceil(dailyLoad(at+awsPredictiveBuffer)/perInstance - 1e-9))
		if got := day2["aws-predictive"][at]; got < need {
			t.Errorf("day 2 %v: aws-predictive %d, the load at +%v needs %d", at, got, awsPredictiveBuffer, need)
		}
		if day2["aws-target"][at] < need {
			behind++
		}
	}
	if behind == 0 {
		t.Error("aws-target alone was ready a buffer ahead too: the test shows nothing")
	}
}
