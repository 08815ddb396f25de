package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// apiFlags are the flags every command talking to a running ebb takes.
type apiFlags struct {
	addr, token string
	asJSON      bool
}

// add adds the flags to cmd, whose RunE must be set already: it wraps it so
// an error past the flags and arguments exits 1 unless typed otherwise.
func (f *apiFlags) add(cmd *cobra.Command) {
	def := os.Getenv("EBB_API")
	if def == "" {
		def = "http://127.0.0.1:7070"
	}
	cmd.Flags().StringVar(&f.addr, "api", def, "the API's address (env EBB_API)")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token for changes (default: env EBB_TOKEN)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the API's JSON answer as it is")
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := run(cmd, args); err != nil {
			return failed(err)
		}
		return nil
	}
}

func (f *apiFlags) client() (*client.Client, error) {
	u, err := url.Parse(f.addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--api %q: want a URL such as http://127.0.0.1:7070", f.addr)
	}
	tok := f.token
	if tok == "" {
		tok = os.Getenv("EBB_TOKEN")
	}
	return client.New(f.addr, tok), nil
}

func ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 60*time.Second)
}

// printRaw prints an API answer as it came.
func printRaw(w io.Writer, raw json.RawMessage) error {
	_, err := fmt.Fprintf(w, "%s\n", raw)
	return err
}

// call makes one API call: with --json it prints the answer as it came,
// else it decodes it into out and calls text to print it.
func (f *apiFlags) call(cmd *cobra.Command, do func(context.Context, *client.Client, any) error, out any, text func(io.Writer) error) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	c, cancel := ctx(cmd)
	defer cancel()
	if f.asJSON {
		var raw json.RawMessage
		if err := do(c, cl, &raw); err != nil {
			return err
		}
		return printRaw(cmd.OutOrStdout(), raw)
	}
	if err := do(c, cl, out); err != nil {
		return err
	}
	return text(cmd.OutOrStdout())
}

// groupStatus is what ebb status reads of a group. It is decoded apart from
// daemon.GroupView so a condition can be a line or a line with its cause.
type groupStatus struct {
	Name    string `json:"name"`
	Min     int    `json:"min"`
	Max     int    `json:"max"`
	Desired int    `json:"desired"`
	Fleet   *struct {
		Launching int `json:"launching"`
		InService int `json:"in_service"`
		Draining  int `json:"draining"`
	} `json:"fleet"`
	Suspended  store.Suspended       `json:"suspended"`
	Decision   *daemon.DecisionBrief `json:"last_decision"`
	Conditions []string              `json:"conditions"`
}

func statusCmd() *cobra.Command {
	var f apiFlags
	var sourcesOnly bool
	cmd := &cobra.Command{
		Use:   "status [GROUP | --sources]",
		Short: "Show groups: capacity, instances by state, the last decision, conditions; then the signal sources' health",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			c, cancel := ctx(cmd)
			defer cancel()
			var raw json.RawMessage
			if sourcesOnly {
				if len(args) == 1 {
					return usageErrorf("--sources shows every source; it takes no group")
				}
				if err := cl.Sources(c, &raw); err != nil {
					return err
				}
				if f.asJSON {
					return printRaw(cmd.OutOrStdout(), raw)
				}
				var srcs []source.Health
				if err := json.Unmarshal(raw, &srcs); err != nil {
					return fmt.Errorf("decode the sources: %w", err)
				}
				return sourcesTable(cmd.OutOrStdout(), srcs)
			}
			if len(args) == 1 {
				err = cl.Group(c, args[0], &raw)
			} else {
				err = cl.Groups(c, &raw)
			}
			if err != nil {
				return err
			}
			if f.asJSON {
				return printRaw(cmd.OutOrStdout(), raw)
			}
			var groups []groupStatus
			if len(args) == 1 {
				groups = make([]groupStatus, 1)
				err = json.Unmarshal(raw, &groups[0])
			} else {
				err = json.Unmarshal(raw, &groups)
			}
			if err != nil {
				return fmt.Errorf("decode the groups: %w", err)
			}
			w := cmd.OutOrStdout()
			if err := statusTable(w, groups); err != nil {
				return err
			}
			// Each condition carries its cause: failing or stale signals,
			// stalled reads, failing launches, drains of instances.
			for _, g := range groups {
				for _, cond := range g.Conditions {
					fmt.Fprintf(w, "%s: %s\n", g.Name, cond)
				}
			}
			if len(args) == 1 {
				return nil
			}
			var srcs []source.Health
			if err := cl.Sources(c, &srcs); err != nil {
				return err
			}
			if len(srcs) > 0 {
				fmt.Fprintln(w)
			}
			if err := sourcesTable(w, srcs); err != nil {
				return err
			}
			// Replicas on a shared store: who leads. A daemon on a state
			// file leads alone and says nothing here.
			var l store.Leader
			if cl.Leader(c, &l) == nil && l.ID != "" {
				fmt.Fprintln(w)
				fmt.Fprintln(w, leaderLine(l))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&sourcesOnly, "sources", false, "show only the signal sources' health (GET /v1/sources)")
	return cmd
}

// leaderLine says who leads the replicas, as one replica sees it.
func leaderLine(l store.Leader) string {
	line := fmt.Sprintf("leader: %s at %s, epoch %d", l.ID, l.Addr, l.Epoch)
	if !l.Since.IsZero() {
		line += ", since " + l.Since.UTC().Format(time.RFC3339)
	}
	switch {
	case l.Self:
		return line + " (this ebb)"
	case l.Expired:
		return line + " (its lease ran out: a follower takes over shortly)"
	}
	return line + " (this ebb follows it)"
}

func statusTable(w io.Writer, groups []groupStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
	return tw.Flush()
}

// sourcesTable shows each source's calls and its newest failure.
func sourcesTable(w io.Writer, srcs []source.Health) error {
	if len(srcs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tSTATE\tCALLS\tFAILED\tLAST OK\tLAST ERROR")
	for _, s := range srcs {
		state, lastOK, lastErr := "ok", "-", "-"
		switch {
		case s.Calls == 0:
			state = "unused"
		case s.Failing:
			state = "failing"
		}
		if !s.LastOK.IsZero() {
			lastOK = s.LastOK.UTC().Format(time.RFC3339)
		}
		if s.LastError != "" {
			lastErr = s.ErrorAt.UTC().Format(time.RFC3339) + " " + s.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Kind, state, s.Calls, s.Failures, lastOK, lastErr)
	}
	return tw.Flush()
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
			var insts []model.Instance
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Instances(c, args[0], all, out)
			}, &insts, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tZONE\tADDR\tSTATE\tSINCE\tLAUNCHED\tREASON")
				for _, in := range insts {
					state := string(in.State)
					if in.Protected {
						state += " (protected)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, dash(in.Zone), dash(in.Addr), state,
						in.StateSince.UTC().Format(time.RFC3339), in.LaunchedAt.UTC().Format(time.RFC3339), dash(in.Reason))
				}
				return tw.Flush()
			})
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
		Short: "Show a group's recent decisions, lifecycle actions and operator actions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a daemon.Activities
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Activities(c, args[0], limit, out)
			}, &a, func(w io.Writer) error { return printActivities(w, a) })
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many of each")
	f.add(cmd)
	return cmd
}

func printActivities(w io.Writer, a daemon.Activities) error {
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
		dir := d.Direction
		switch until := e.Last.UTC().Format(time.RFC3339); {
		case e.Repeats > 0 && d.Direction == "hold": // one entry for a run of holds
			dir += fmt.Sprintf(" ×%d until %s", e.Repeats+1, until)
		case e.Repeats > 0: // a change, then holds at its outcome
			dir += fmt.Sprintf(", then held ×%d until %s", e.Repeats, until)
		}
		fmt.Fprintf(tw, "  %s\t%d → %d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), d.Current, d.Desired, dir, d.Reason)
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
	tw.Flush()
	fmt.Fprintln(w, "operator (newest first):")
	for _, e := range a.Operator {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, dash(e.Instance), e.Detail)
	}
	return tw.Flush()
}

func explainCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "explain GROUP",
		Short: "Explain a group's latest decision in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var text string
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Explain(c, args[0], out)
			}, &text, func(w io.Writer) error {
				_, err := io.WriteString(w, text)
				return err
			})
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
		Short: "Set a group's desired capacity by hand (policies go on deciding from there; ebb suspend holds it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("desired") {
				return usageErrorf("pass --desired N")
			}
			var got client.ScaleAnswer
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Scale(c, args[0], desired, out)
			}, &got, func(w io.Writer) error {
				if got.Message != "" {
					_, err := fmt.Fprintf(w, "%s: desired %d (asked %d; %s)\n", args[0], got.Desired, got.Asked, got.Message)
					return err
				}
				_, err := fmt.Fprintf(w, "%s: desired %d\n", args[0], got.Desired)
				return err
			})
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
			var s store.Suspended
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				if on {
					return cl.Suspend(c, args[0], args[1:], out)
				}
				return cl.Resume(c, args[0], args[1:], out)
			}, &s, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: suspended: %s\n", args[0], suspended(s))
				return err
			})
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
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Drain(c, args[0], args[1], out)
			}, nil, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: draining %s\n", args[0], args[1])
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}
