package exec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ebb-autoscaler/ebb/internal/command"
)

const (
	// maxOutput caps what is read of a command's stdout.
	maxOutput = 4 << 20
)

// runner runs one command once.
type runner struct {
	argv    []string
	dir     string
	env     []string
	stdin   []byte
	timeout time.Duration
	secrets []string // values blanked out of what the command wrote
}

// transientError is a failure worth another run: the command timed out or
// exited with EX_TEMPFAIL.
type transientError struct{ msg string }

func (e *transientError) Error() string { return e.msg }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// run runs the command once (internal/command: its own process group,
// killed whole when ctx ends or the timeout passes). A timeout and exit
// status 75 (EX_TEMPFAIL) are transient.
func (r *runner) run(ctx context.Context) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := command.Cmd{Argv: r.argv, Dir: r.dir, Env: r.env, Stdin: r.stdin, MaxOut: maxOutput, Secrets: r.secrets}.Run(actx)
	var ee *command.ExitError
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, err
	case actx.Err() != nil:
		return nil, &transientError{msg: fmt.Sprintf("killed after the %s timeout", r.timeout)}
	case errors.As(err, &ee) && ee.TempFail():
		return nil, &transientError{msg: ee.Error()}
	}
	return nil, err
}

// redact blanks out every secret value in s. Values are matched whole, so a
// command that prints a secret in its errors does not leak it to ebb's.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// newCeiling returns the backoff schedule without randomization: the
// ceiling full jitter draws under.
func newCeiling() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = backoffInitial, backoffMax, 2, 0
	b.Reset()
	return b
}
