// Package cli is ebb's command line: one cobra command per subcommand, wired
// explicitly from Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
)

// Exit codes: see "Exit codes" in README.md.
const (
	exitOK          = 0
	exitRefused     = 1 // refused or invalid: validation errors, API 4xx and 5xx
	exitUsage       = 2 // bad flags or arguments
	exitUnreachable = 3 // the daemon cannot be reached
)

// exitError carries a process exit code with an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a bad flag, argument or command.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// failure is a request refused or failed once the command line was right.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

func failed(err error) error { return failure{err} }

// Main runs ebb with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return mainContext(context.Background(), args, stdout, stderr)
}

// mainContext is Main under ctx: cancelling it is what Ctrl-C does.
func mainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "ebb",
		Short:         "ebb decides how many instances each group needs, and explains why",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(validateCmd(), schemaCmd(), simulateCmd(), runCmd(),
		statusCmd(), instancesCmd(), activitiesCmd(), explainCmd(), scaleCmd(),
		suspendCmd(true), suspendCmd(false), drainCmd(), terminateCmd(), protectCmd(), unprotectCmd(), pushCmd(),
		registryCmd(), workerCmd(), webCmd(), demoCmd())
	for _, c := range root.Commands() {
		if check := c.Args; check != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
	}
	return exitCode(root.ExecuteContext(ctx), stderr)
}

// exitCode reports err on stderr, once and with one "ebb:" prefix, and
// returns the exit code for it.
func exitCode(err error, stderr io.Writer) int {
	var (
		exit        exitError
		unreachable *client.UnreachableError
		refused     *client.Error
		usage       usageError
		fail        failure
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &unreachable):
		fmt.Fprintf(stderr, "ebb: %v; is ebb run running? set --api or EBB_API\n", unreachable)
		return exitUnreachable
	case errors.As(err, &refused):
		fmt.Fprintf(stderr, "ebb: %v\n", err)
		return exitRefused
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "ebb: %v\n", err)
		return exitUsage
	case errors.As(err, &fail):
		fmt.Fprintf(stderr, "ebb: %v\n", err)
		return exitRefused
	default:
		// cobra's own errors: an unknown command or flag.
		fmt.Fprintf(stderr, "ebb: %v\n", err)
		return exitUsage
	}
}

// Run is Main for the real process.
func Run() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }
