package testserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// RedisServer is a redis-server on 127.0.0.1.
type RedisServer struct {
	*Proc
	Addr string // host:port
}

// Redis starts a redis-server with no persistence, ready when it answers
// PING.
func Redis() (*RedisServer, error) { return RedisWith() }

// RedisWith starts a redis-server with extra arguments, such as
// "--requirepass", "secret".
func RedisWith(args ...string) (*RedisServer, error) {
	bin, err := Binary("/usr/bin/redis-server", "redis-server")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := Dir("redis")
	if err != nil {
		return nil, err
	}
	argv := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no"}, args...)
	p, err := Start("redis", dir, exec.Command(bin, argv...))
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Proc: p, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if err := p.Ready(10*time.Second, s.ping); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

// ping is ready when the server answers PING, with PONG or, when it wants a
// password, NOAUTH.
func (s *RedisServer) ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("ping answered %q", strings.TrimSpace(line))
}
