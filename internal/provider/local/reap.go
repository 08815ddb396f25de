package local

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper reaps the instances this process started once they exit, so no
// zombie lingers, with one goroutine for all of them. A goroutine per
// instance blocked in exec.Cmd.Wait would hold an OS thread each: a
// blocking wait syscall takes its thread out of Go's scheduler, so 1,000
// idle instances cost 1,000 threads. The reaper is woken by SIGCHLD and
// then polls each child it knows with WNOHANG; it never waits for a child
// it did not start (other code's exec.Cmd.Wait keeps working).
//
// It is one per process, not per Provider, because children and SIGCHLD
// are: ebb builds a provider per group.
type reaper struct {
	once sync.Once
	mu   sync.Mutex
	pids map[int]bool
}

var children = &reaper{pids: map[int]bool{}}

// listen starts the reaper's goroutine, once; call it before starting a
// child so its SIGCHLD is not missed.
func (r *reaper) listen() {
	r.once.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			for range ch {
				r.reap()
			}
		}()
	})
}

// add hands a started child to the reaper. It may have exited already
// (its SIGCHLD came before it was known), so it is polled at once.
func (r *reaper) add(pid int) {
	r.mu.Lock()
	r.pids[pid] = true
	r.mu.Unlock()
	r.reap()
}

// reap collects every known child that has exited.
func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid := range r.pids {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			delete(r.pids, pid)
		}
	}
}

// waiting reports whether pid is a child not reaped yet.
func (r *reaper) waiting(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pids[pid]
}
