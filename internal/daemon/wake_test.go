package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// idleGroup is one instance of /bin/sleep, logging under dir.
func idleGroup(dir string) string {
	return fmt.Sprintf(`
  - name: idle
    capacity: {min: 1, max: 3}
    policies: [{fixed: {desired: 1}}]
    provider: {local: {command: [/bin/sleep, "3600"], log_dir: %q}}
`, filepath.Join(dir, "logs"))
}

// A group's loop reconciles every ReconcileEvery while something is in
// flight and every IdleEvery once settled; an operator action wakes it at
// once, and an instance that exits while the group is settled is noticed
// at the next idle reconcile and replaced at the fast cadence. Real
// processes (/bin/sleep), a fake clock: each pause the loop takes is read
// from the clock's notifications.
func TestReconcileCadence(t *testing.T) {
	h := newHarness(t, idleGroup(t.TempDir()), Options{})
	slept := h.clock.Notify(16)
	t.Cleanup(func() { killRecorded(t, h.d.st) })
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.d.reconcileLoop(ctx, "idle") }()
	t.Cleanup(func() { cancel(); <-done })
	h.d.mu.Lock()
	h.d.loops["idle"] = true
	h.d.mu.Unlock()

	pause := func(want time.Duration, what string) {
		t.Helper()
		if got := <-slept; got != want {
			t.Fatalf("%s: paused %v, want %v", what, got, want)
		}
	}
	pause(time.Second, "launching")
	h.clock.Advance(time.Second)
	pause(5*time.Second, "settled")
	if s := h.status(); !s.Settled || s.InService != 1 {
		t.Fatalf("status %+v, want settled with 1 in service", s)
	}

	// An operator action wakes the loop without the clock moving.
	before := h.d.st.Writes()
	if _, err := h.d.Scale("idle", 1); err != nil {
		t.Fatal(err)
	}
	pause(5*time.Second, "woken by the operator, still settled")
	select {
	case d := <-slept:
		t.Fatalf("paused again (%v) without a wake or the clock moving", d)
	default:
	}
	if got := h.d.st.Writes() - before; got != 1 {
		t.Errorf("%d store writes for the operator's scale and an idle reconcile, want 1 (the operator log)", got)
	}

	// The instance exits while settled: the next idle reconcile stops it
	// and launches a replacement, then the loop is fast until it is ready.
	insts := h.instances("idle")
	if len(insts) != 1 || insts[0].Process == nil {
		t.Fatalf("instances %+v, want one running", insts)
	}
	if err := syscall.Kill(-insts[0].Process.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExited(t, insts[0].Process.PID)
	h.clock.Advance(5 * time.Second)
	pause(time.Second, "replacing")
	h.clock.Advance(time.Second)
	pause(5*time.Second, "settled again")
	if s := h.status(); !s.Settled || s.InService != 1 {
		t.Fatalf("status %+v, want settled with the replacement in service", s)
	}
}

// A wake while the loop reconciles is not lost: the next pause is skipped.
func TestWakeBeforePause(t *testing.T) {
	c := clock.NewFake(t0)
	slept := c.Notify(1)
	w := newWakers()
	w.wake("g")
	if err := w.pause(t.Context(), c, "g", time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-slept:
		t.Fatalf("slept %v after a wake", d)
	default:
	}
}

func (h *harness) status() fleet.Status {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return h.d.groups["idle"].status
}

func (h *harness) instances(group string) []model.Instance {
	h.t.Helper()
	var out []model.Instance
	if err := h.d.st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Instances(group)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	var live []model.Instance
	for _, in := range out {
		if !in.State.Ended() {
			live = append(live, in)
		}
	}
	return live
}

// waitExited waits until the child pid has exited, leaving it to be reaped
// by the provider (WNOWAIT); ECHILD means the provider reaped it already.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case err == nil, errors.Is(err, unix.ECHILD):
			return
		case !errors.Is(err, unix.EINTR):
			t.Fatal(err)
		}
	}
}

// killRecorded kills, by PID, every live instance the store records (each
// in its own process group) and says how many: they are this process's
// children, reaped by the provider once they exit.
func killRecorded(t testing.TB, st *store.Store) int {
	killed := 0
	err := st.View(func(tx *store.Tx) error {
		groups, err := tx.Groups()
		if err != nil {
			return err
		}
		for _, g := range groups {
			insts, err := tx.Instances(g)
			if err != nil {
				return err
			}
			for _, in := range insts {
				if in.Process != nil && !in.State.Ended() {
					_ = syscall.Kill(-in.Process.PID, syscall.SIGKILL)
					killed++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return killed
}
