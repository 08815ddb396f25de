package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// BenchmarkIdleGroups runs ebb (this process, the daemon in-process with
// the real clock and the local provider) with EBB_BENCH_GROUPS groups
// (default 1,000) of one idle instance each (/bin/sleep), waits until
// every instance is in service, then measures over EBB_BENCH_WINDOW
// (default 60s) what the idle fleet costs this process: CPU (utime+stime
// from /proc/self/stat, which excludes the instances), threads
// (/proc/self/status) and bytes written to disk (/proc/self/io
// write_bytes). It runs once whatever b.N is (use -benchtime 1x); the
// instances it started are killed by PID at the end. The store lives in
// TMPDIR, which must be on a disk (not tmpfs) for write_bytes to count.
func BenchmarkIdleGroups(b *testing.B) {
	n := benchEnvInt(b, "EBB_BENCH_GROUPS", 1000)
	window := 60 * time.Second
	if v := os.Getenv("EBB_BENCH_WINDOW"); v != "" {
		var err error
		if window, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	dbPath := filepath.Join(dir, "ebb.db")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "store: {path: %q}\ngroups:\n", dbPath)
	for i := range n {
		fmt.Fprintf(&cfg, "  - {name: idle-%04d, capacity: {min: 1, max: 1}, policies: [{fixed: {desired: 1}}], provider: {local: {command: [/bin/sleep, \"3600\"], log_dir: %q}}}\n", i, filepath.Join(dir, "logs"))
	}
	cfgPath := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	d, err := New(Options{ConfigPath: cfgPath})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil, nil) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		killInstances(b, dbPath)
	})

	real := clock.Real{}
	start := time.Now()
	for inService(d) < n {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%d of %d groups in service after 10m", inService(d), n)
		}
		_ = real.Sleep(ctx, time.Second)
	}
	b.Logf("%d groups in service after %s", n, time.Since(start).Round(time.Second))
	_ = real.Sleep(ctx, 5*time.Second) // let the last launches' writes settle

	b.ResetTimer()
	for range b.N {
		cpu0, io0, w0, t0 := procCPU(b), procWriteBytes(b), storeWrites(d), time.Now()
		_ = real.Sleep(ctx, window)
		cpu1, io1, w1, el := procCPU(b), procWriteBytes(b), storeWrites(d), time.Since(t0)
		if got := inService(d); got < n {
			b.Errorf("only %d of %d groups in service at the end", got, n)
		}
		perMin := float64(time.Minute) / float64(el)
		b.ReportMetric(100*(cpu1-cpu0).Seconds()/el.Seconds(), "%core")
		b.ReportMetric(float64(procThreads(b)), "threads")
		b.ReportMetric(float64(io1-io0)/(1<<20)*perMin, "MiB-written/min")
		b.ReportMetric(float64(w1-w0)/el.Seconds(), "store-writes/s")
	}
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

func inService(d *Daemon) int {
	n := 0
	for _, g := range d.Groups() {
		if g.Fleet != nil && g.Fleet.InService == 1 {
			n++
		}
	}
	return n
}

func storeWrites(d *Daemon) uint64 { return d.st.Writes() }

// procCPU is this process's user plus system time (fields 14 and 15 of
// /proc/self/stat, in clock ticks of 1/100 s); children are not included.
func procCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func procWriteBytes(b *testing.B) uint64 { return procField(b, "/proc/self/io", "write_bytes:") }

func procThreads(b *testing.B) uint64 { return procField(b, "/proc/self/status", "Threads:") }

func procField(b *testing.B, path, key string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("%s: no %s", path, key)
	return 0
}

// killInstances kills every instance the store records, by PID: they are
// this process's unreaped children, so their PIDs cannot have been reused.
func killInstances(b *testing.B, dbPath string) {
	st, err := store.Open(dbPath, store.Options{})
	if err != nil {
		b.Error(err)
		return
	}
	defer st.Close()
	b.Logf("killed %d instances", killRecorded(b, st))
}
