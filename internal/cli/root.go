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
)

// exitError carries a process exit code with an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

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
	root.AddCommand(validateCmd(), schemaCmd(), simulateCmd(), runCmd(),
		statusCmd(), instancesCmd(), activitiesCmd(), explainCmd(), scaleCmd(),
		suspendCmd(true), suspendCmd(false), drainCmd(), workerCmd(), demoCmd())
	err := root.ExecuteContext(ctx)
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	default:
		fmt.Fprintf(stderr, "ebb: %v\n", err)
		return 2
	}
}

// Run is Main for the real process.
func Run() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }
