package worker

import (
	"os"
	"os/signal"
	"sync"
)

// DrainOnSignals returns a channel for Config.Drain that is closed on the
// first drain signal (SIGUSR1 or SIGTERM on Unix, os.Interrupt elsewhere),
// and a function that stops listening for them. Later signals are left to
// the caller: a second SIGTERM, say, can cancel Run's ctx for a hard stop.
func DrainOnSignals() (drain <-chan struct{}, stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, drainSignals...)
	ch := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			close(ch)
		case <-quit:
		}
		signal.Stop(sigs)
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { close(quit) }) }
}
