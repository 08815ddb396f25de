package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ChromiumServer is a headless Chromium whose DevTools endpoint listens on
// 127.0.0.1, for browser tests (chromedp's remote allocator attaches to
// URL).
type ChromiumServer struct {
	*Proc
	URL string // ws://127.0.0.1:PORT/devtools/browser/ID
}

// Chromium starts Debian's chromium headless with an empty profile. It picks
// its own DevTools port (port 0) and writes it to DevToolsActivePort in the
// profile, so no other process can take the port between a check and the
// start.
func Chromium() (*ChromiumServer, error) {
	bin, err := Binary("/usr/bin/chromium", "chromium")
	if err != nil {
		return nil, err
	}
	dir, err := Dir("chromium")
	if err != nil {
		return nil, err
	}
	profile := filepath.Join(dir, "profile")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"about:blank")
	p, err := Start("chromium", dir, cmd)
	if err != nil {
		return nil, err
	}
	s := &ChromiumServer{Proc: p}
	if err := p.Ready(30*time.Second, func(context.Context) error {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return err
		}
		port, path, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if !ok || port == "" || !strings.HasPrefix(path, "/devtools/browser/") {
			return errors.New("DevToolsActivePort not written yet")
		}
		s.URL = fmt.Sprintf("ws://127.0.0.1:%s%s", port, path)
		return nil
	}); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}
