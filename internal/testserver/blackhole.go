package testserver

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Blackhole listens on 127.0.0.1 and accepts connections that it never
// answers: a backend that hangs. It returns the address and a function
// counting the connections accepted so far. The listener and its
// connections close when tb ends.
func Blackhole(tb testing.TB) (addr string, accepted func() int) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var n atomic.Int32
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String(), func() int { return int(n.Load()) }
}
