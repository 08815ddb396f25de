package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

func terminateCmd() *cobra.Command {
	var f apiFlags
	var req client.TerminateRequest
	cmd := &cobra.Command{
		Use:   "terminate GROUP INSTANCE [--replace] [--now]",
		Short: "Drain an instance and stop it, lowering desired by one (--replace keeps it)",
		Long: `Terminate drains the instance and stops it. Desired capacity is lowered by
one, so no replacement launches; with --replace it is kept and a replacement
launches. --now ends a drain (a stuck one too) and stops the instance now.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.Instance
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Terminate(c, args[0], args[1], req, out)
			}, &in, func(w io.Writer) error {
				effect := "desired lowered by one"
				if req.Replace {
					effect = "a replacement launches"
				}
				_, err := fmt.Fprintf(w, "%s: terminating %s (%s); %s\n", args[0], in.ID, in.State, effect)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&req.Replace, "replace", false, "keep desired capacity: a replacement launches")
	cmd.Flags().BoolVar(&req.Now, "now", false, "stop it now, ending its drain")
	f.add(cmd)
	return cmd
}

// protectCmd is ebb protect, or ebb unprotect without on.
func protectCmd(on bool) *cobra.Command {
	var f apiFlags
	verb, short, done := "protect", "Keep an instance from being chosen for scale-in", "protected from scale-in"
	if !on {
		verb, short, done = "unprotect", "Let scale-in choose an instance again", "no longer protected"
	}
	cmd := &cobra.Command{
		Use:   verb + " GROUP INSTANCE",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.Instance
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				if on {
					return cl.Protect(c, args[0], args[1], out)
				}
				return cl.Unprotect(c, args[0], args[1], out)
			}, &in, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: %s %s\n", args[0], in.ID, done)
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}
