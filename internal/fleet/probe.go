package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// probe asks an instance a yes/no question: an HTTP GET (2xx, and with a
// JSON path, the value there), or a command (exit 0). A probe with neither
// is unset.
type probe struct {
	url     *template.Template
	path    string
	headers map[string]config.Secret
	command []*template.Template
	timeout time.Duration
}

func newProbe(name string, c config.Probe) (probe, error) {
	p := probe{timeout: c.Timeout.D()}
	if p.timeout <= 0 {
		p.timeout = 5 * time.Second
	}
	var err error
	if c.HTTP != "" {
		if p.url, err = config.ParseTemplate(name+".http", c.HTTP); err != nil {
			return p, err
		}
	}
	p.path, p.headers = c.Path, c.Headers
	if p.command, err = parseAll(name+".command", c.Command); err != nil {
		return p, err
	}
	return p, nil
}

func parseAll(name string, args []string) ([]*template.Template, error) {
	var out []*template.Template
	for i, a := range args {
		t, err := config.ParseTemplate(fmt.Sprintf("%s[%d]", name, i), a)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (p probe) set() bool { return p.url != nil || len(p.command) > 0 }

// ask runs the probe. For an HTTP probe with a path, yes means the value at
// path is true or a number other than 0.
func (p probe) ask(ctx context.Context, client *http.Client, inst model.Instance) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	data := config.DataFor(inst)
	if p.url != nil {
		url, err := config.Execute(p.url, data)
		if err != nil {
			return false, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Errorf("probe %s: %w", url, err)
		}
		if err := setHeaders(req, p.headers); err != nil {
			return false, fmt.Errorf("probe %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, fmt.Errorf("probe %s: %w", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return false, fmt.Errorf("probe %s: read answer: %w", url, err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return false, nil
		}
		if p.path == "" {
			return true, nil
		}
		return truthAt(body, p.path)
	}
	args, err := renderAll(p.command, data)
	if err != nil {
		return false, err
	}
	err = exec.CommandContext(ctx, args[0], args[1:]...).Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit):
		return false, nil
	default:
		return false, fmt.Errorf("probe %s: %w", args[0], err)
	}
}

// truthAt reads a JSON document's value at path as a yes/no: true or a
// number other than 0.
func truthAt(body []byte, path string) (bool, error) {
	v, err := source.Lookup(body, path)
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	f, err := source.Number(v)
	if err != nil {
		return false, fmt.Errorf("probe value at %q: %w", path, err)
	}
	return f != 0, nil
}

// drainAction asks an instance to finish its work.
type drainAction struct {
	signal  syscall.Signal
	method  string
	url     *template.Template
	body    *template.Template
	headers map[string]config.Secret
	command []*template.Template
	timeout time.Duration
}

var signalNames = map[string]syscall.Signal{
	"SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2, "SIGTERM": syscall.SIGTERM,
	"SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP, "SIGQUIT": syscall.SIGQUIT,
}

func newDrainAction(c config.Drain) (drainAction, error) {
	a := drainAction{method: c.HTTP.Method, headers: c.HTTP.Headers, timeout: 30 * time.Second}
	if c.Signal != "" {
		s, ok := signalNames[c.Signal]
		if !ok {
			return a, fmt.Errorf("unknown drain signal %q", c.Signal)
		}
		a.signal = s
	}
	var err error
	if c.HTTP.URL != "" {
		if a.url, err = config.ParseTemplate("drain.http.url", c.HTTP.URL); err != nil {
			return a, err
		}
		if a.body, err = config.ParseTemplate("drain.http.body", c.HTTP.Body); err != nil {
			return a, err
		}
	}
	a.command, err = parseAll("drain.command", c.Command)
	return a, err
}

func (a drainAction) set() bool { return a.signal != 0 || a.url != nil || len(a.command) > 0 }

func (a drainAction) String() string {
	switch {
	case a.signal != 0:
		return signalName(a.signal)
	case a.url != nil:
		return a.method + " " + a.url.Root.String()
	case len(a.command) > 0:
		return "command"
	}
	return "none"
}

func signalName(s syscall.Signal) string {
	for n, v := range signalNames {
		if v == s {
			return n
		}
	}
	return s.String()
}

// send performs the action. With no action configured, it does nothing: the
// instance is terminated once its busy probe says it is idle.
func (a drainAction) send(ctx context.Context, client *http.Client, sig signaler, inst model.Instance) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	data := config.DataFor(inst)
	switch {
	case a.signal != 0:
		if sig == nil {
			return fmt.Errorf("send %s: the provider cannot signal instances", signalName(a.signal))
		}
		return sig.Signal(ctx, inst, a.signal)
	case a.url != nil:
		url, err := config.Execute(a.url, data)
		if err != nil {
			return err
		}
		body, err := config.Execute(a.body, data)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, a.method, url, strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s %s: %w", a.method, url, err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if err := setHeaders(req, a.headers); err != nil {
			return fmt.Errorf("%s %s: %w", a.method, url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", a.method, url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("%s %s: %s", a.method, url, resp.Status)
		}
		return nil
	case len(a.command) > 0:
		args, err := renderAll(a.command, data)
		if err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("command %s: %w: %s", args[0], err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// setHeaders sets configured headers, revealing their secrets now (a
// rotated file is picked up); an error names the header, never its value.
func setHeaders(req *http.Request, headers map[string]config.Secret) error {
	for k, s := range headers {
		v, err := s.Reveal()
		if err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
		req.Header.Set(k, v)
	}
	return nil
}

func renderAll(ts []*template.Template, data config.TemplateData) ([]string, error) {
	out := make([]string, len(ts))
	for i, t := range ts {
		s, err := config.Execute(t, data)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
