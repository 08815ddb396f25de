package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// apiFlags are the flags every command talking to a running ebb takes.
type apiFlags struct {
	addr, token string
	asJSON      bool
}

func (f *apiFlags) add(cmd *cobra.Command) {
	def := os.Getenv("EBB_API")
	if def == "" {
		def = "http://127.0.0.1:7070"
	}
	cmd.Flags().StringVar(&f.addr, "api", def, "the API's address (env EBB_API)")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token for changes (default: env EBB_TOKEN)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the API's JSON answer")
}

func (f *apiFlags) client() *client.Client {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("EBB_TOKEN")
	}
	return client.New(f.addr, tok)
}

func ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 60*time.Second)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func statusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status [GROUP]",
		Short: "Show groups: capacity, instances by state, the last decision",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			var groups []daemon.GroupView
			if len(args) == 1 {
				var g daemon.GroupView
				if err := f.client().Group(c, args[0], &g); err != nil {
					return err
				}
				groups = append(groups, g)
			} else if err := f.client().Groups(c, &groups); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), groups)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tMIN\tMAX\tDESIRED\tREADY\tLAUNCHING\tDRAINING\tSUSPENDED\tLAST DECISION")
			for _, g := range groups {
				ready, launching, draining := "-", "-", "-"
				if g.Fleet != nil {
					ready, launching, draining = strconv.Itoa(g.Fleet.InService), strconv.Itoa(g.Fleet.Launching), strconv.Itoa(g.Fleet.Draining)
				}
				last := "-"
				if g.Decision != nil {
					last = g.Decision.Reason
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", g.Name, g.Min, g.Max, g.Desired, ready, launching, draining, suspended(g.Suspended), last)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, g := range groups {
				if g.Fleet == nil {
					continue
				}
				for _, c := range g.Fleet.Conditions {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", g.Name, c)
				}
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func suspended(s store.Suspended) string {
	var out []string
	if s.Launch {
		out = append(out, "launch")
	}
	if s.Terminate {
		out = append(out, "terminate")
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func instancesCmd() *cobra.Command {
	var f apiFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "instances GROUP",
		Short: "List a group's instances and their lifecycle states",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			var insts []model.Instance
			if err := f.client().Instances(c, args[0], all, &insts); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), insts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tZONE\tADDR\tSTATE\tSINCE\tLAUNCHED\tREASON")
			for _, in := range insts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, dash(in.Zone), dash(in.Addr), in.State,
					in.StateSince.UTC().Format(time.RFC3339), in.LaunchedAt.UTC().Format(time.RFC3339), dash(in.Reason))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include ended instances (terminated and failed)")
	f.add(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func activitiesCmd() *cobra.Command {
	var f apiFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "activities GROUP",
		Short: "Show a group's recent decisions and lifecycle actions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			var a daemon.Activities
			if err := f.client().Activities(c, args[0], limit, &a); err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), a)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "decisions (newest first):")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, e := range a.Decisions {
				var d struct {
					Current   int    `json:"current"`
					Desired   int    `json:"desired"`
					Direction string `json:"direction"`
					Reason    string `json:"reason"`
				}
				json.Unmarshal(e.Decision, &d)
				fmt.Fprintf(tw, "  %s\t%d → %d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), d.Current, d.Desired, d.Direction, d.Reason)
			}
			tw.Flush()
			fmt.Fprintln(w, "actions (newest first):")
			for _, in := range a.Intents {
				state := "open"
				if in.Done {
					state = in.Result
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", in.Created.UTC().Format(time.RFC3339), in.Kind, in.Instance, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many of each")
	f.add(cmd)
	return cmd
}

func explainCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "explain GROUP",
		Short: "Explain a group's latest decision in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			if f.asJSON {
				var raw json.RawMessage
				if err := f.client().Explain(c, args[0], &raw); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", raw)
				return err
			}
			var text string
			if err := f.client().Explain(c, args[0], &text); err != nil {
				return err
			}
			_, err := io.WriteString(cmd.OutOrStdout(), text)
			return err
		},
	}
	f.add(cmd)
	return cmd
}

func scaleCmd() *cobra.Command {
	var f apiFlags
	var desired int
	cmd := &cobra.Command{
		Use:   "scale GROUP --desired N",
		Short: "Set a group's desired capacity by hand (policies go on deciding from there)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("desired") {
				return fmt.Errorf("pass --desired N")
			}
			c, cancel := ctx(cmd)
			defer cancel()
			got, err := f.client().Scale(c, args[0], desired)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: desired %d\n", args[0], got)
			return err
		},
	}
	cmd.Flags().IntVar(&desired, "desired", 0, "the capacity")
	f.add(cmd)
	return cmd
}

func suspendCmd(on bool) *cobra.Command {
	var f apiFlags
	verb, short := "suspend", "Suspend launches, terminations or both (all) for a group"
	if !on {
		verb, short = "resume", "Resume suspended processes of a group"
	}
	cmd := &cobra.Command{
		Use:   verb + " GROUP [launch|terminate|all]...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			var s store.Suspended
			cl := f.client()
			call := cl.Suspend
			if !on {
				call = cl.Resume
			}
			if err := call(c, args[0], args[1:], &s); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: suspended: %s\n", args[0], suspended(s))
			return err
		},
	}
	f.add(cmd)
	return cmd
}

func drainCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "drain GROUP INSTANCE",
		Short: "Drain one instance now (its work finishes; a replacement launches)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cancel := ctx(cmd)
			defer cancel()
			if err := f.client().Drain(c, args[0], args[1]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: draining %s\n", args[0], args[1])
			return err
		},
	}
	f.add(cmd)
	return cmd
}
