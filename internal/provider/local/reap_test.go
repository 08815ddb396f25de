package local

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Instances are reaped once they exit, without a goroutine (and the OS
// thread its blocking wait would hold) per instance.
func TestReapedWithoutAGoroutineEach(t *testing.T) {
	const n = 20
	p := newTestProvider(t, testGrace)
	launch(t, p, provider.LaunchRequest{ID: "warm-up", Group: "reap"}) // the reaper's own goroutine
	goroutines := runtime.NumGoroutine()
	var pids []int
	for i := range n {
		inst := launch(t, p, provider.LaunchRequest{ID: fmt.Sprintf("i-%d", i), Group: "reap"})
		pids = append(pids, inst.Process.PID)
	}
	if got := runtime.NumGoroutine() - goroutines; got >= n {
		t.Errorf("%d more goroutines after %d launches, want fewer than one each", got, n)
	}
	for _, pid := range pids {
		if !children.waiting(pid) {
			t.Errorf("the reaper does not know child %d", pid)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	// Each is reaped: its /proc entry goes (a zombie would keep it).
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, pid := range pids {
		for {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
				break
			}
			if err := (clock.Real{}).Sleep(ctx, 10*time.Millisecond); err != nil {
				t.Fatalf("process %d not reaped 10s after it was killed", pid)
			}
		}
	}
	for _, pid := range pids {
		if children.waiting(pid) {
			t.Errorf("the reaper still holds child %d, reaped", pid)
		}
	}
}
