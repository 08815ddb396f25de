package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// RabbitMQServer is a RabbitMQ node with the management plugin, on
// 127.0.0.1, with the default user guest (password guest).
type RabbitMQServer struct {
	AMQP       string // amqp://guest:guest@127.0.0.1:port/
	Management string // http://127.0.0.1:port
	node, epmd *Proc
}

// Stop stops the node, then the epmd it registered with.
func (s *RabbitMQServer) Stop() {
	s.node.Stop()
	s.epmd.Stop()
}

// RabbitMQ starts a RabbitMQ node with the management plugin on free ports.
// The node's statistics refresh every second (not 5s) so tests see a
// published message soon. Erlang's port mapper (epmd) is started first as a
// child of its own, so Stop ends it by its PID; a node would otherwise leave
// a daemon behind.
func RabbitMQ() (*RabbitMQServer, error) {
	server, err := Binary("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server")
	if err != nil {
		return nil, err
	}
	epmdBin, err := Binary("/usr/bin/epmd", "erlang-base")
	if err != nil {
		return nil, err
	}
	var ports [4]int // epmd, amqp, dist, management
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	epmdDir, err := Dir("epmd")
	if err != nil {
		return nil, err
	}
	epmd, err := Start("epmd", epmdDir, exec.Command(epmdBin, "-port", strconv.Itoa(ports[0]), "-address", "127.0.0.1"))
	if err != nil {
		os.RemoveAll(epmdDir)
		return nil, err
	}
	epmdAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if err := epmd.Ready(10*time.Second, func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", epmdAddr)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		epmd.Stop()
		return nil, err
	}

	dir, err := Dir("rabbitmq")
	if err != nil {
		epmd.Stop()
		return nil, err
	}
	// The management agent collects queue statistics at the smallest
	// interval of its retention policies (5s by default).
	conf := fmt.Sprintf(`management.tcp.ip = 127.0.0.1
management.tcp.port = %d
collect_statistics_interval = 500
management.sample_retention_policies.global.minute = 1
management.sample_retention_policies.basic.minute = 1
management.sample_retention_policies.detailed.10 = 1
`, ports[3])
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[rabbitmq_management].\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			os.RemoveAll(dir)
			epmd.Stop()
			return nil, fmt.Errorf("start rabbitmq: %w", err)
		}
	}
	cmd := exec.Command(server)
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"RABBITMQ_NODENAME=ebb-test@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(ports[1]),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(ports[2]),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT="+strconv.Itoa(ports[0]),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
	node, err := Start("rabbitmq", dir, cmd)
	if err != nil {
		os.RemoveAll(dir)
		epmd.Stop()
		return nil, err
	}
	s := &RabbitMQServer{
		AMQP:       fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[1]),
		Management: fmt.Sprintf("http://127.0.0.1:%d", ports[3]),
		node:       node,
		epmd:       epmd,
	}
	if err := node.Ready(60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Management+"/api/overview", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("management answered %s", resp.Status)
		}
		return nil
	}); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}
