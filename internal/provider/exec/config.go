package exec

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Config is the exec provider's config: the value under
// groups[].provider.exec.
type Config struct {
	Observe    []string                 `yaml:"observe" doc:"The command that prints the group's state (schema version 1: desired, instances, optional min and max): the program and its arguments, each a template over {{.Group}}, run without a shell. Required."`
	SetDesired []string                 `yaml:"set_desired" doc:"The command that sets the desired count, read from stdin's desired field. Required."`
	Remove     []string                 `yaml:"remove" doc:"The command that removes the instances named in stdin's victims field and lowers the desired count by as many of them as were still counted; ids it does not know are done. Required."`
	Picks      string                   `yaml:"picks" default:"ebb" enum:"ebb,system" doc:"Who chooses the instances a scale-in removes: ebb (remove must remove exactly the victims named), or system (the system chooses, as Nomad and Flink do: observe lists instances in the order the system removes them, first to go first, and ebb names and drains those)."`
	Dir        string                   `yaml:"dir" doc:"The directory the commands run in; ebb's own when empty."`
	Env        map[string]config.Secret `yaml:"env" doc:"Environment variables added to ebb's own for the commands, each from a value, an environment variable or a file (read at each run); their values are blanked out of errors."`
	Timeout    config.Duration          `yaml:"timeout" default:"30s" doc:"How long one run of a command may take; then its whole process group is killed and the run counts as a transient failure."`
	Tries      int                      `yaml:"tries" default:"3" doc:"Runs of a command that fails transiently (a timeout, or exit status 75, EX_TEMPFAIL), with exponential backoff and full jitter between them; any other failure is not retried."`
}

// The values of Config.Picks.
const (
	picksEbb    = "ebb"
	picksSystem = "system"
)

// The variables ebb sets for every run.
const (
	envGroup = "EBB_GROUP"
	envOp    = "EBB_OP"
)

// Validate checks the commands, their templates, the environment and the
// limits, and returns every problem at once.
func (c *Config) Validate() error {
	var errs []error
	for _, cmd := range []struct {
		key  string
		argv []string
	}{{"observe", c.Observe}, {"set_desired", c.SetDesired}, {"remove", c.Remove}} {
		errs = append(errs, validateArgv(cmd.key, cmd.argv))
	}
	if c.Picks != picksEbb && c.Picks != picksSystem {
		errs = append(errs, config.Problem("picks", "must be ebb or system, not %q", c.Picks))
	}
	for k, s := range c.Env {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			errs = append(errs, config.Problem("env", "%q is not a variable name", k))
			continue
		case k == envGroup || k == envOp:
			errs = append(errs, config.Problem("env."+k, "set by ebb for every run; choose another name"))
			continue
		}
		errs = append(errs, config.Under("env."+k, s.Validate()))
	}
	if c.Timeout.D() <= 0 {
		errs = append(errs, config.Problem("timeout", "must be > 0, not %s", c.Timeout))
	}
	if c.Tries < 1 || c.Tries > 10 {
		errs = append(errs, config.Problem("tries", "must be 1 to 10, not %d", c.Tries))
	}
	return errors.Join(errs...)
}

func validateArgv(key string, argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return config.Problem(key, "required: the program and its arguments")
	}
	var errs []error
	for i, a := range argv {
		if _, err := parseArg(fmt.Sprintf("%s[%d]", key, i), a); err != nil {
			errs = append(errs, config.Problem(fmt.Sprintf("%s[%d]", key, i), "%v", err))
		}
	}
	return errors.Join(errs...)
}

// groupOnly is the data a command template is checked against: a
// provider's commands are the group's, so {{.ID}} and the other instance
// fields, which config.ParseTemplate accepts, are refused here.
type groupOnly struct{ Group string }

func parseArg(name, text string) (*template.Template, error) {
	t, err := config.ParseTemplate(name, text)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, groupOnly{Group: "g"}); err != nil {
		return nil, fmt.Errorf("may use only {{.Group}}: %w", err)
	}
	return t, nil
}

// render renders a validated command for group.
func render(name string, argv []string, group string) ([]string, error) {
	out := make([]string, len(argv))
	for i, a := range argv {
		t, err := parseArg(fmt.Sprintf("%s[%d]", name, i), a)
		if err != nil {
			return nil, err
		}
		if out[i], err = config.Execute(t, config.TemplateData{Group: group}); err != nil {
			return nil, err
		}
	}
	if out[0] == "" {
		return nil, fmt.Errorf("%s[0] renders empty for group %s", name, group)
	}
	return out, nil
}

// Kind is the exec provider kind.
func Kind() provider.Kind {
	return provider.NewKind[Config, provider.Capacity]("exec",
		"Drives any system through your commands (observe, set_desired, remove), which exchange JSON with ebb on stdin and stdout under a versioned schema.",
		open)
}
