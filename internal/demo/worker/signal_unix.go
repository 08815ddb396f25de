//go:build unix

package worker

import (
	"os"
	"syscall"
)

var drainSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGTERM}
