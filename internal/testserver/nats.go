package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// NATSServer is a nats-server with JetStream on 127.0.0.1.
type NATSServer struct {
	*Proc
	URL     string // nats://127.0.0.1:PORT
	Addr    string // 127.0.0.1:PORT
	Monitor string // http://127.0.0.1:MONPORT, the monitoring endpoint
}

// NATS starts a nats-server with JetStream storing under its directory,
// ready when the monitor's /healthz answers 200 (which waits for
// JetStream).
func NATS() (*NATSServer, error) { return NATSWith() }

// NATSWith starts a nats-server with extra arguments, such as "--auth",
// "TOKEN" or "--user", "U", "--pass", "P".
func NATSWith(args ...string) (*NATSServer, error) {
	bin, err := Binary("/usr/sbin/nats-server", "nats-server")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	mon, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := Dir("nats")
	if err != nil {
		return nil, err
	}
	// NATS 2.9 has no --http_host: the monitor listens where -a says.
	argv := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mon),
		"-js", "-sd", filepath.Join(dir, "js")}, args...)
	cmd := exec.Command(bin, argv...)
	p, err := Start("nats", dir, cmd)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &NATSServer{Proc: p, URL: "nats://" + addr, Addr: addr, Monitor: fmt.Sprintf("http://127.0.0.1:%d", mon)}
	if err := p.Ready(10*time.Second, s.healthy); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

func (s *NATSServer) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Monitor+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}
