//go:build !unix

package worker

import "os"

var drainSignals = []os.Signal{os.Interrupt}
