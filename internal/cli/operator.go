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

// instanceAction is a command that acts on one instance and answers its
// record: ebb protect and ebb unprotect.
type instanceAction struct {
	verb, short string
	done        string // what the instance is afterwards
	call        func(cl *client.Client) func(ctx context.Context, group, id string, out any) error
}

func protectCmd() *cobra.Command {
	return instanceActionCmd(instanceAction{
		verb: "protect", short: "Keep an instance from being chosen for scale-in", done: "protected from scale-in",
		call: func(cl *client.Client) func(context.Context, string, string, any) error { return cl.Protect },
	})
}

func unprotectCmd() *cobra.Command {
	return instanceActionCmd(instanceAction{
		verb: "unprotect", short: "Let scale-in choose an instance again", done: "no longer protected",
		call: func(cl *client.Client) func(context.Context, string, string, any) error { return cl.Unprotect },
	})
}

func instanceActionCmd(a instanceAction) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   a.verb + " GROUP INSTANCE",
		Short: a.short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.Instance
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return a.call(cl)(c, args[0], args[1], out)
			}, &in, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: %s %s\n", args[0], in.ID, a.done)
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}
