package daemon

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// BenchmarkDaemon runs the daemon's decision loop over many groups of three
// pushed signals on a fake clock, ticking as ebb run does (every second,
// each group due every 15 s), and reports per tick that decides every
// group: wall time, CPU time, the share of a core at steady state, bytes
// written to disk per minute of simulated time, the peak RSS and the state
// file's size at the end. Sizes and duration come from the environment:
//
//	EBB_BENCH_GROUPS (default 50000), EBB_BENCH_MINUTES (simulated, default 60),
//	EBB_BENCH_DIR (where the state file goes and stays; default a temporary one)
//
//	go test -run '^$' -bench BenchmarkDaemon -benchtime 1x ./internal/daemon
//
// The signals follow a daily cycle with a per-group phase and noise, so
// groups scale out and in now and then, as real ones do; pushes go through
// Daemon.Push like the API's.
func BenchmarkDaemon(b *testing.B) {
	groups := benchEnvInt(b, "EBB_BENCH_GROUPS", 50000)
	minutes := benchEnvInt(b, "EBB_BENCH_MINUTES", 60)
	dir := os.Getenv("EBB_BENCH_DIR") // kept afterwards, for a look at the state file
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, "ebb.yaml")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "store: {path: %q}\napi: {listen: \"127.0.0.1:0\"}\ngroups:\n", filepath.Join(dir, "ebb.db"))
	for i := range groups {
		fmt.Fprintf(&cfg, `  - name: g%05d
    capacity: {min: 1, max: 50}
    signals: {queue: {stale: 1m}, cpu: {stale: 1m}, rate: {stale: 1m}}
    policies: [{queue: {signal: queue, per_instance: 100}}, {target: {signal: cpu, value: 0.6}}]
`, i)
	}
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	d, err := New(Options{ConfigPath: path, Clock: clk, Log: slog.New(slog.DiscardHandler), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer d.st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	phase := make([]float64, groups)
	names := make([]string, groups)
	for i := range phase {
		phase[i] = rng.Float64() * 2 * math.Pi
		names[i] = fmt.Sprintf("g%05d", i)
	}
	push := func(now time.Time) {
		day := float64(now.Unix()%86400) / 86400 * 2 * math.Pi
		for i, name := range names {
			load := 1 + 0.8*math.Sin(day+phase[i]) + 0.05*rng.NormFloat64() // 0.2–1.8
			err := d.Push(name, now, map[string]float64{
				"queue": math.Max(0, 400*load), "cpu": math.Min(1, 0.35*load), "rate": 1000 * load,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}

	ticks := minutes * 60
	var full struct {
		n          int
		wall, cpu  time.Duration
		maxWall    time.Duration
		firstWrite int64
	}
	startIO := procWriteBytes(b)
	b.ResetTimer()
	for t := range ticks {
		now := clk.Now()
		if t%15 == 0 {
			push(now)
		}
		c0, w0 := procCPU(b), time.Now()
		d.decide(b.Context())
		wall, cpu := time.Since(w0), procCPU(b)-c0
		if t%15 == 0 {
			full.n++
			full.wall += wall
			full.cpu += cpu
			full.maxWall = max(full.maxWall, wall)
		}
		clk.Advance(time.Second)
	}
	b.StopTimer()
	written := procWriteBytes(b) - startIO
	fi, err := os.Stat(filepath.Join(dir, "ebb.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(full.wall.Milliseconds())/float64(full.n), "ms/full-tick")
	b.ReportMetric(float64(full.maxWall.Milliseconds()), "ms/max-tick")
	b.ReportMetric(100*full.cpu.Seconds()/(float64(full.n)*15), "%core-steady")
	b.ReportMetric(float64(written)/float64(minutes)/(1<<20), "MiB-written/sim-min")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "MiB-peak-RSS")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-state-file")
	b.Logf("%d groups, %d simulated minutes, %d full ticks", groups, minutes, full.n)
}

// peakRSS is the process's peak resident set size, in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("/proc/self/status: no VmHWM")
	return 0
}
