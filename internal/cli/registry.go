package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

func registryCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "registry [APP]",
		Short: "List the service registry's apps and instances, with status and lease",
		Long: `List what ebb's service registry holds (served at /eureka to Eureka
clients): each app's instances with their status (and the override ebb or
an operator set, such as OUT_OF_SERVICE), address, last renewal and when
their lease expires, and whether self-preservation holds evictions.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v daemon.RegistryView
			return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
				return cl.Registry(c, out)
			}, &v, func(w io.Writer) error {
				if len(args) == 1 {
					if !keepApp(&v, args[0]) {
						return failed(fmt.Errorf("app %s is not in the registry", strings.ToUpper(args[0])))
					}
				}
				return printRegistry(w, v, time.Now())
			})
		},
	}
	f.add(cmd)
	return cmd
}

// keepApp narrows v to one app (compared without regard to case) and
// reports whether it is there.
func keepApp(v *daemon.RegistryView, app string) bool {
	for _, a := range v.Apps {
		if strings.EqualFold(a.Name, app) {
			v.Apps = []daemon.RegistryApp{a}
			return true
		}
	}
	return false
}

func printRegistry(w io.Writer, v daemon.RegistryView, now time.Time) error {
	n := 0
	for _, a := range v.Apps {
		n += len(a.Instances)
	}
	sp := v.SelfPreservation
	guard := "off"
	switch {
	case !sp.Enabled:
		guard = "disabled"
	case sp.Active:
		guard = fmt.Sprintf("ACTIVE: evictions held (%d renewals in the last minute, evicting needs more than %d)", sp.RenewalsLastMin, sp.ThresholdPerMin)
	default:
		guard += fmt.Sprintf(" (%d renewals in the last minute, above %d)", sp.RenewalsLastMin, sp.ThresholdPerMin)
	}
	fmt.Fprintf(w, "registry: %s in %s; self-preservation %s\n", plural(n, "instance"), plural(len(v.Apps), "app"), guard)
	if n == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tINSTANCE\tSTATUS\tADDR\tLAST RENEWAL\tLEASE")
	for _, a := range v.Apps {
		for _, in := range a.Instances {
			status := in.Status
			if in.OverriddenStatus != "" {
				status += " (override)"
			}
			lease := "expires in " + ago(in.LeaseExpires.Sub(now))
			if in.Expired {
				lease = "EXPIRED " + ago(now.Sub(in.LeaseExpires)) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\n", a.Name, in.ID, status, in.Addr, ago(now.Sub(in.LastRenewal)), lease)
		}
	}
	return tw.Flush()
}

// ago is a duration to the second, never negative.
func ago(d time.Duration) string {
	return max(d, 0).Round(time.Second).String()
}
