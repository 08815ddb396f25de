package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// load reads, validates and compiles a configuration: what every command that
// takes -c does before anything else.
func load(path string) (*config.File, *engine.Engine, error) {
	if path == "" {
		return nil, nil, errors.New("no config: pass -c FILE")
	}
	f, err := configKinds().Load(path)
	if err != nil {
		return nil, nil, err
	}
	eng, err := engine.New(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, eng, nil
}

func validateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a config: exit 0, or print every problem with its position and exit 1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, _, err := load(path)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			policies := 0
			for _, g := range f.Groups {
				policies += len(g.Policies)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %s, %s\n", path,
				plural(len(f.Groups), "group"), plural(policies, "policy"))
			for _, g := range f.Groups {
				if note := drainNote(g); note != "" {
					fmt.Fprintln(cmd.OutOrStdout(), note)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file")
	return cmd
}

// drainNote says what scale-in does to a group that runs instances but has
// no drain action and no busy probe, so nobody is surprised by a SIGKILL.
func drainNote(g config.Group) string {
	if g.Provider.Local == nil {
		return ""
	}
	spec, err := fleet.NewSpec(g)
	if err != nil {
		return ""
	}
	grace, ok := spec.GracefulStop()
	if !ok {
		return ""
	}
	first := ""
	if rg := g.Lifecycle.Registry; rg != nil {
		first = fmt.Sprintf("takes the instance OUT_OF_SERVICE in the registry, waits %s for clients to refresh, then ", model.FormatDuration(rg.Refresh.D()))
	}
	return fmt.Sprintf("group %s: no drain action or busy probe: scale-in %ssends SIGTERM, then SIGKILL after %s",
		g.Name, first, model.FormatDuration(grace))
}

func schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the config's JSON Schema, for editors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := configKinds().Schema()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	if word == "policy" {
		return fmt.Sprintf("%d policies", n)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
