package exec

import (
	"errors"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// sh is the POSIX shell the test systems are written in. It is part of
// every system ebb runs on; a test machine without it fails, never skips.
func sh(t testing.TB) string {
	t.Helper()
	p, err := osexec.LookPath("sh")
	if err != nil {
		t.Fatalf("the exec provider's tests need a POSIX sh: %v", err)
	}
	return p
}

// testConfig is a Config with the defaults the config package would apply,
// all three commands running script with --group {{.Group}}.
func testConfig(t testing.TB, script string, env map[string]string) *Config {
	t.Helper()
	argv := []string{sh(t), script, "--group", "{{.Group}}"}
	c := &Config{
		Observe: argv, SetDesired: argv, Remove: argv,
		Picks: picksEbb, Timeout: config.Duration(10 * time.Second), Tries: 3,
		Env: map[string]config.Secret{},
	}
	for k, v := range env {
		if v != "" { // an empty value cannot be written: leave it unset
			c.Env[k] = config.Secret{Value: v}
		}
	}
	return c
}

// fakeClock is a fake clock whose sleeps end at once and are reported on
// the returned channel, so tests count the backoff waits and see them.
func fakeClock() (*clock.Fake, <-chan time.Duration) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clk.SetInstant(true)
	return clk, clk.Notify(64)
}

// openWith opens the kind on group "web" with a fake clock and a seeded
// rand, as the daemon would.
func openWith(t testing.TB, c *Config, clk clock.Clock) provider.Capacity {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	p, err := Kind().Open(c, provider.Deps{Group: "web", Clock: clk, Rand: rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return p.(provider.Capacity)
}

// writeScript writes a POSIX sh script into dir and returns its path.
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines reads a file's lines; a missing file has none.
func lines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// gone reports whether process pid has ended: no longer in /proc, or a
// zombie waiting for its new parent to reap it.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}
