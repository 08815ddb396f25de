package local

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// DefaultGrace is how long Terminate waits after SIGTERM before SIGKILL when
// Config.Grace is zero.
const DefaultGrace = 10 * time.Second

const (
	// killWait bounds the wait for a process to be gone after SIGKILL; only
	// a process stuck in uninterruptible sleep takes longer.
	killWait = 5 * time.Second
	// pollPeriod is how often Terminate looks at /proc while it waits.
	pollPeriod = 20 * time.Millisecond
)

// Config says how to run a group's instances.
//
// Command elements and Env values are text/template templates over:
//
//	{{.ID}}     the instance ID
//	{{.Group}}  the group name
//	{{.Zone}}   the zone label ("" when the group has none)
//	{{.Port}}   a free TCP port on 127.0.0.1, chosen at launch
//	{{.Addr}}   127.0.0.1:PORT, which ebb records as the instance's address
type Config struct {
	// Command is the command line, one element per argument. Command[0] is
	// looked up in PATH when it has no slash. Required.
	Command []string
	// Env holds the instance's environment variables, added to the few
	// it inherits from ebb (Inherited, LC_*) and the EBB_INSTANCE and
	// EBB_ADDR markers; an Env entry wins over an inherited one.
	Env map[string]string
	// Owner names the ebb the instances belong to (its state). Instances
	// are marked with it, and Find and List see only instances of the same
	// owner, so that two ebbs on one machine with a group of the same name
	// never take each other's instances. "" marks nothing and sees every
	// instance of the group, whatever its owner (for tools and tests that
	// look for orphans).
	Owner string
	// Environ, when set, adds variables known only once ebb runs (the
	// registry's URL, once the API listens): it is called at each launch,
	// and its entries ("KEY=value") come before Env's, which win.
	Environ func() []string
	// Dir is the working directory; "" is ebb's.
	Dir string
	// LogDir receives each instance's stdout and stderr, appended to
	// LogDir/GROUP/ID.log (directories are created). "" discards the output.
	LogDir string
	// Grace is how long Terminate waits after SIGTERM before SIGKILL;
	// zero means DefaultGrace.
	Grace time.Duration
	// Clock paces Terminate's waits; nil means the wall clock.
	Clock clock.Clock
}

// Provider launches, checks, signals and terminates local processes. It holds
// no per-instance state, so any Provider built from the same Config manages
// instances launched by another (adoption after a restart). It is safe for
// concurrent use.
type Provider struct {
	command []*template.Template
	env     []envVar // sorted by key
	environ func() []string
	owner   string
	dir     string
	logDir  string
	grace   time.Duration
	clock   clock.Clock
}

type envVar struct {
	key  string
	tmpl *template.Template
}

var (
	_ provider.Launcher   = (*Provider)(nil)
	_ provider.Terminator = (*Provider)(nil)
	_ provider.Checker    = (*Provider)(nil)
	_ provider.Signaler   = (*Provider)(nil)
)

// New checks cfg and parses its templates once. It returns every problem at
// once, each naming the element at fault (command[1], env[PORT]). A template
// that refers to an unknown field is caught here, not at the first launch.
func New(cfg Config) (*Provider, error) {
	var errs []error
	if len(cfg.Command) == 0 {
		errs = append(errs, errors.New("command: required"))
	}
	if cfg.Grace < 0 {
		errs = append(errs, fmt.Errorf("grace: must not be negative, got %s", cfg.Grace))
	}
	p := &Provider{
		environ: cfg.Environ,
		owner:   cfg.Owner,
		dir:     cfg.Dir,
		logDir:  cfg.LogDir,
		grace:   cfg.Grace,
		clock:   cfg.Clock,
	}
	if p.grace == 0 {
		p.grace = DefaultGrace
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	for i, src := range cfg.Command {
		name := fmt.Sprintf("command[%d]", i)
		if i == 0 && src == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", name))
			continue
		}
		t, err := config.ParseTemplate(name, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.command = append(p.command, t)
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.Env)) {
		name := fmt.Sprintf("env[%s]", key)
		if key == "" || strings.ContainsAny(key, "=\x00") {
			errs = append(errs, fmt.Errorf("%s: invalid variable name", name))
			continue
		}
		t, err := config.ParseTemplate(name, cfg.Env[key])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.env = append(p.env, envVar{key: key, tmpl: t})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// LogPath returns the file that receives inst's output, or "" when output is
// discarded.
func (p *Provider) LogPath(inst model.Instance) string {
	if p.logDir == "" {
		return ""
	}
	return filepath.Join(p.logDir, inst.Group, inst.ID+".log")
}
