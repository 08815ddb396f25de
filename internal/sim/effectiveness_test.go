package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/sim/trace"
	"github.com/ebb-autoscaler/ebb/internal/sim/workload"
)

// backendBound is a streaming job whose records each call a shared
// backend that accepts 2,000 calls/s (about 20 workers' worth): past it,
// more workers make more attempts and fewer get through. The group runs
// the streaming policy: while the lag grows it rescales to catch up, at
// most every 2 minutes; %s is where behavior.up.effectiveness goes.
const backendBound = `
groups:
  - name: stream
    capacity: {min: 2, max: 60, initial: 12}
    interval: 15s
    signals: {input_rate: {}, throughput: {}, backlog: {}, busy: {}}
    policies:
      - streaming: {input_rate: input_rate, throughput: throughput, backlog: backlog, cpu: busy, min_interval: 2m}
    behavior:
      up: {limits: []%s}
      down: {window: 5m}
    lifecycle: {launch: {boot: 60s, timeout: 10m}}
`

// Past the backend's limit, more workers make more attempts and fewer get
// through, so the backlog the streaming policy chases never clears: sized
// on its lag, the group jumps to its max on the spike and stays there,
// stuck. With ineffective scale-up detection on its throughput, the first
// scale-out past the limit is judged ineffective and the group goes no
// further: it runs fewer workers and gets more done. With `block: 1h` it
// tries once more an hour later, and is stuck at the max from then on.
func TestClosedLoopIneffectiveScaleUp(t *testing.T) {
	g := trace.Grid{Step: time.Second, Duration: 3 * time.Hour}
	tr, err := trace.Spike(g, 1000, 4, 30*time.Minute, 2*time.Hour) // 1,000 records/s, 4,000 for two hours
	if err != nil {
		t.Fatal(err)
	}
	run := func(effectiveness string) *Outcome {
		t.Helper()
		cfg, err := config.Parse("stream.yaml", []byte(fmt.Sprintf(backendBound, effectiveness)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := workload.New(workload.Config{
			Streaming: &workload.StreamingConfig{PerWorkerRPS: 100, Restart: config.Duration(10 * time.Second), MaxLag: config.Duration(time.Minute)},
			Backend:   &workload.BackendConfig{Limit: 2000, CallsPerUnit: 1, Retries: 5, Collapse: 0.5},
		}, 1)
		if err != nil {
			t.Fatal(err)
		}
		out, err := RunClosed(cfg, "stream", tr, m, ClosedOptions{Start: closedStart, Seed: 1, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain := run("")
	judged := run(", effectiveness: {signal: throughput}")
	hourly := run(", effectiveness: {signal: throughput, block: 1h}")
	for _, c := range []struct {
		name string
		out  *Outcome
	}{{"without detection", plain}, {"with detection", judged}, {"with block: 1h", hourly}} {
		t.Logf("%s: peak %v ready, %.0f records done, %.1f instance-hours", c.name, slices.Max(c.out.Ready.V), c.out.Work.Completed, sum(c.out.Running.V)/3600)
	}
	if p := slices.Max(plain.Ready.V); p != 60 {
		t.Fatalf("without detection the group peaked at %v ready; the scenario should drive it to its max, 60", p)
	}
	if p := slices.Max(judged.Ready.V); p >= 50 {
		t.Errorf("with detection the group peaked at %v ready; want it held after the first scale-out past the limit", p)
	}
	if judged.Work.Completed <= plain.Work.Completed || sum(judged.Running.V) >= sum(plain.Running.V) {
		t.Errorf("with detection %.0f records done in %.0f instance-seconds, without %.0f in %.0f: want more done for less",
			judged.Work.Completed, sum(judged.Running.V), plain.Work.Completed, sum(plain.Running.V))
	}
	if p := slices.Max(hourly.Ready.V); p != 60 {
		t.Errorf("with block: 1h the group peaked at %v ready; want the second try an hour later to take it to 60", p)
	}
	for _, out := range []*Outcome{plain, judged, hourly} {
		if out.Work.Lost != 0 {
			t.Errorf("lost %v records", out.Work.Lost)
		}
	}
}
