//go:build unix

package worker

import (
	"os"
	"syscall"
	"testing"
)

func TestDrainOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			drain, stop := DrainOnSignals()
			defer stop()
			select {
			case <-drain:
				t.Fatal("drain closed before any signal")
			default:
			}
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			if _, ok := within(drain); !ok {
				t.Fatalf("drain not closed within %s of %s", bound, sig)
			}
		})
	}
}
