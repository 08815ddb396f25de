package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/command"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is the exec source's connection config: where commands run and
// what extra environment they get.
type Conn struct {
	config.Calls `yaml:",inline"`
	Dir          string                   `yaml:"dir" doc:"The directory commands run in; ebb's own when empty."`
	Env          map[string]config.Secret `yaml:"env" doc:"Environment variables added to ebb's own for the commands, each from a value, an environment variable or a file."`
}

// Validate checks the limits and the environment.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate()}
	for k, s := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, config.Problem("env", "%q is not a variable name", k))
			continue
		}
		errs = append(errs, config.Under("env."+k, s.Validate()))
	}
	return errors.Join(errs...)
}

// Query is one signal read from a command's output.
type Query struct {
	Command []string `yaml:"command" doc:"The program and its arguments, each a template over {{.Group}}; run without a shell. Required."`
	Path    string   `yaml:"path" doc:"Where the number is in the command's JSON output (a template over {{.Group}}), in http_json's path syntax: keys by dots, list indexes, [field=value]; empty when the output is the number itself."`
}

// Validate checks the command and path templates.
func (q *Query) Validate() error {
	var errs []error
	if len(q.Command) == 0 || q.Command[0] == "" {
		errs = append(errs, config.Problem("command", "required: the program and its arguments"))
	}
	for i, a := range q.Command {
		if err := source.GroupTemplate("command", a); err != nil {
			errs = append(errs, config.Problem(fmt.Sprintf("command[%d]", i), "%v", err))
		}
	}
	if err := source.GroupTemplate("path", q.Path); err != nil {
		errs = append(errs, config.Problem("path", "%v", err))
	} else if sample, err := new(source.Templates).Render(q.Path, "g", nil); err == nil && sample != "" {
		if _, err := source.ParsePath(sample); err != nil {
			errs = append(errs, config.Problem("path", "%v", err))
		}
	}
	return errors.Join(errs...)
}

// Kind is the exec source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("exec",
		"Runs a command and reads a number, or numbers for many groups from one JSON document, from what it prints.",
		source.Standalone, open)
}

// maxOutput caps what is read of a command's stdout.
const maxOutput = 1 << 20

// exTempFail is sysexits' EX_TEMPFAIL: the command says try again.
const exTempFail = 75

type backend struct {
	conn  *Conn
	cache source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

func open(c *Conn, _ source.Deps) (source.Backend[Query], error) {
	return &backend{conn: c}, nil
}

// Plan keys the call by the rendered command line, so groups whose command
// renders the same share one run, and asks the rendered path within it.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	argv, err := b.argv(r)
	if err != nil {
		return "", "", err
	}
	path, err := b.cache.Render(r.Query.Path, r.Group, nil)
	if err != nil {
		return "", "", err
	}
	key, _ := json.Marshal(argv)
	return string(key), path, nil
}

func (b *backend) argv(r source.Read[Query]) ([]string, error) {
	if r.Query == nil || len(r.Query.Command) == 0 {
		return nil, errors.New("exec signal has no command")
	}
	argv := make([]string, len(r.Query.Command))
	for i, a := range r.Query.Command {
		s, err := b.cache.Render(a, r.Group, nil)
		if err != nil {
			return nil, err
		}
		argv[i] = s
	}
	return argv, nil
}

// Call runs the command once and reads every read's number from its output.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	argv, err := b.argv(reads[0])
	if err != nil {
		return nil, err
	}
	out, err := b.run(ctx, argv)
	if err != nil {
		return nil, err
	}
	vals := make([]source.Value, len(reads))
	var doc any
	var docErr error
	parsed := false
	for i, r := range reads {
		path, err := b.cache.Render(r.Query.Path, r.Group, nil)
		if err != nil {
			vals[i] = source.Value{Err: err}
			continue
		}
		if path == "" {
			vals[i] = number(argv[0], out)
			continue
		}
		if !parsed {
			parsed = true
			if err := json.Unmarshal(out, &doc); err != nil {
				docErr = fmt.Errorf("output of %s is not JSON: %w", argv[0], err)
			}
		}
		if docErr != nil {
			vals[i] = source.Value{Err: docErr}
			continue
		}
		vals[i] = lookup(argv[0], doc, path)
	}
	return vals, nil
}

// number reads output that is one number.
func number(prog string, out []byte) source.Value {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return source.NoValue("output of %s is empty", prog)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return source.Value{Err: fmt.Errorf("output of %s is %q, not a finite number", prog, clip(s))}
	}
	return source.Value{V: f}
}

// lookup finds path in an already parsed document, with the JSON path
// syntax every kind shares (source.ParsePath), without parsing the document
// again for every group.
func lookup(prog string, doc any, path string) source.Value {
	p, err := source.ParsePath(path)
	if err != nil {
		return source.Value{Err: err}
	}
	v, err := p.Find(doc)
	if err == nil {
		var f float64
		if f, err = source.Number(v); err == nil {
			return source.Value{V: f}
		}
	}
	if errors.Is(err, source.ErrNoValue) {
		return source.NoValue("%q in the output of %s: %v", path, prog, err)
	}
	return source.Value{Err: fmt.Errorf("%q in the output of %s: %w", path, prog, err)}
}

// run runs argv in its own process group, killing the whole group when ctx
// ends, so a shell's children go too.
func (b *backend) run(ctx context.Context, argv []string) ([]byte, error) {
	env := os.Environ()
	// Sorted so the environment is the same at every run.
	for _, k := range slices.Sorted(maps.Keys(b.conn.Env)) {
		s := b.conn.Env[k]
		v, err := s.Reveal()
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		env = append(env, k+"="+v)
	}
	out, err := command.Cmd{Argv: argv, Dir: b.conn.Dir, Env: env, MaxOut: maxOutput}.Run(ctx)
	var ee *command.ExitError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &ee) && ee.TempFail():
		return nil, source.Retryable(fmt.Errorf("run %s: %w", argv[0], err))
	}
	return nil, fmt.Errorf("run %s: %w", argv[0], err)
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
