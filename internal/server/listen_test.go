package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// testAPI is an api: section with short limits.
func testAPI(maxConns int, idle time.Duration) config.API {
	return config.API{
		Listen:            "127.0.0.1:0",
		MaxConnections:    maxConns,
		ReadHeaderTimeout: config.Duration(10 * time.Second),
		ReadTimeout:       config.Duration(10 * time.Second),
		WriteTimeout:      config.Duration(10 * time.Second),
		IdleTimeout:       config.Duration(idle),
	}
}

// countingListener counts the connections its listener has open and the
// most seen at once. A connection is counted out before it is closed, so
// before the listener below can let another in.
type countingListener struct {
	net.Listener
	mu                sync.Mutex
	open, max, closed int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.max = max(l.max, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.closed++
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// serveTest serves the fake backend the way ebb run serves the daemon.
func serveTest(t *testing.T, api config.API) (string, *countingListener) {
	t.Helper()
	srv, limited, err := Listen(api)
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: limited}
	srv.Handler = Handler(&fakeBackend{token: "t"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), ln
}

// keepAlive dials addr, makes one keep-alive request and returns the
// connection and its reader; deadline bounds the whole exchange.
func keepAlive(addr string, deadline time.Time) (net.Conn, *bufio.Reader, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(deadline)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ebb\r\n\r\n"); err != nil {
		c.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, nil, errors.New(resp.Status)
	}
	return c, br, nil
}

// A thousand idle keep-alive clients neither exceed the connection limit nor
// keep their connections: each is answered in turn, the server closes it
// once it has idled for the idle timeout, and a normal client is served
// after them.
func TestListenLimitsAndClosesIdleConnections(t *testing.T) {
	const clients, limit = 1000, 100
	addr, oc := serveTest(t, testAPI(limit, 100*time.Millisecond))
	deadline := time.Now().Add(60 * time.Second) // only a hung test waits this long
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, br, err := keepAlive(addr, deadline)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			// The client sends nothing more: only the server's idle
			// timeout ends the connection.
			if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
				errs <- errors.Join(errors.New("idle connection not closed by the server"), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	oc.mu.Lock()
	most, closed := oc.max, oc.closed
	oc.mu.Unlock()
	if most > limit {
		t.Fatalf("%d connections open at once; the limit is %d", most, limit)
	}
	if closed < clients {
		t.Fatalf("the server closed %d connections, want %d", closed, clients)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("normal client: %s", resp.Status)
	}
}

// A connection beyond the limit is not served while the others are held,
// and is served as soon as one of them closes.
func TestListenHoldsConnectionsBeyondTheLimit(t *testing.T) {
	const limit = 10
	addr, _ := serveTest(t, testAPI(limit, time.Minute))
	deadline := time.Now().Add(30 * time.Second)
	var held []net.Conn
	for range limit {
		c, _, err := keepAlive(addr, deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if _, err := io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: ebb\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// While all slots are held the server does not accept it, so no answer
	// can come; the deadline only bounds how long the test looks.
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(extra)
	if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection beyond the limit was answered (err %v)", err)
	}
	held[0].Close()
	extra.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
}

func TestListenRefusesNoConnections(t *testing.T) {
	if _, _, err := Listen(testAPI(0, time.Second)); err == nil {
		t.Fatal("Listen accepted max connections 0")
	}
}

// Connections that never send a request are closed after the read-header
// timeout, so they free their slots too.
func TestListenClosesSilentConnections(t *testing.T) {
	const clients, limit = 200, 50
	api := testAPI(limit, time.Minute)
	api.ReadHeaderTimeout = config.Duration(100 * time.Millisecond)
	addr, ln := serveTest(t, api)
	deadline := time.Now().Add(60 * time.Second)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(deadline)
			// The server may answer 408 before closing; any bytes then EOF.
			if _, err := io.Copy(io.Discard, c); err != nil {
				errs <- errors.Join(errors.New("silent connection not closed by the server"), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ln.mu.Lock()
	most := ln.max
	ln.mu.Unlock()
	if most > limit {
		t.Fatalf("%d connections open at once; the limit is %d", most, limit)
	}
	c, _, err := keepAlive(addr, deadline)
	if err != nil {
		t.Fatalf("normal client: %v", err)
	}
	c.Close()
}
