package testserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// PrometheusServer is a Prometheus 2.x process scraping the targets a test
// names every second.
type PrometheusServer struct {
	// URL is the server's base URL: http://127.0.0.1:PORT.
	URL  string
	proc *Proc
	sd   string // the file_sd file listing the targets
}

// prometheusConfig scrapes the targets listed in a file_sd file, so a test
// can start Prometheus before its exporters and point it at them later.
// honor_labels keeps an exporter's own job label (jobs_waiting{job="g1"})
// instead of renaming it exported_job.
const prometheusConfig = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ebb-test
    honor_labels: true
    file_sd_configs:
      - files: [%q]
        refresh_interval: 1s
`

// Prometheus starts Prometheus on a free loopback port, scraping targets
// (host:port of exporters serving /metrics) every second. SetTargets
// changes them.
func Prometheus(targets ...string) (*PrometheusServer, error) { return startPrometheus(nil, targets) }

// PrometheusHistory starts Prometheus holding history: samples in the
// OpenMetrics text format, with their timestamps (seconds) and the final
// "# EOF", written into its storage by promtool before it starts. It
// scrapes nothing.
func PrometheusHistory(openMetrics []byte) (*PrometheusServer, error) {
	return startPrometheus(openMetrics, nil)
}

func startPrometheus(history []byte, targets []string) (*PrometheusServer, error) {
	bin, err := Binary("/usr/bin/prometheus", "prometheus")
	if err != nil {
		return nil, err
	}
	dir, err := Dir("prometheus")
	if err != nil {
		return nil, err
	}
	if history != nil {
		if err := backfill(dir, history); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &PrometheusServer{sd: filepath.Join(dir, "targets.json")}
	if err := s.SetTargets(targets...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, prometheusConfig, s.sd), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s.URL = "http://" + addr
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	s.proc, err = Start("prometheus", dir, cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	err = s.proc.Ready(30*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready answered %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		s.proc.Stop()
		return nil, err
	}
	return s, nil
}

// SetTargets replaces the scraped targets; Prometheus reads the file again
// within a second or two.
func (s *PrometheusServer) SetTargets(targets ...string) error {
	if targets == nil {
		targets = []string{}
	}
	b, err := json.Marshal([]map[string]any{{"targets": targets}})
	if err != nil {
		return fmt.Errorf("encode prometheus targets: %w", err)
	}
	// Written aside and renamed, so Prometheus never reads half a file.
	tmp := s.sd + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write prometheus targets: %w", err)
	}
	if err := os.Rename(tmp, s.sd); err != nil {
		return fmt.Errorf("write prometheus targets: %w", err)
	}
	return nil
}

// Stop stops the server and removes its data.
func (s *PrometheusServer) Stop() { s.proc.Stop() }

// backfill writes history into dir/data with promtool.
func backfill(dir string, history []byte) error {
	tool, err := Binary("/usr/bin/promtool", "prometheus")
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "history.om")
	if err := os.WriteFile(in, history, 0o600); err != nil {
		return fmt.Errorf("write prometheus history: %w", err)
	}
	out, err := exec.Command(tool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", in, filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("promtool backfill: %w\n%s", err, out)
	}
	return nil
}
