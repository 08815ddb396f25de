package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ebb-autoscaler/ebb/client"
)

func pushCmd() *cobra.Command {
	var f apiFlags
	var at, file string
	cmd := &cobra.Command{
		Use:   "push GROUP SIGNAL=VALUE... | --file FILE",
		Short: "Push signal values: one group's from the arguments, or many groups' from a JSON file",
		Long: `Push sends values of a group's pushed signals, as an exporter would:

  ebb push web queue=120 cpu=0.6

--time says when they were taken (RFC3339; default now). With --file, the
body of POST /v1/signals is read from FILE (- is stdin), for many groups
at once: {"time": "…", "groups": {"web": {"queue": 120}, "batch": {"backlog": 30}}}.
Either way the values are all kept or, with any bad one, none is.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				if len(args) > 0 || at != "" {
					return usageErrorf("--file takes no GROUP, SIGNAL=VALUE or --time: the file holds them")
				}
				return pushFile(cmd, &f, file)
			}
			if len(args) < 2 {
				return usageErrorf("pass GROUP SIGNAL=VALUE... (or --file FILE)")
			}
			values, err := parseValues(args[1:])
			if err != nil {
				return err
			}
			var t time.Time
			if at != "" {
				if t, err = time.Parse(time.RFC3339Nano, at); err != nil {
					return usageErrorf("--time %q: want RFC3339, such as 2026-03-01T12:00:00Z", at)
				}
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			c, cancel := ctx(cmd)
			defer cancel()
			if err := cl.Push(c, args[0], t, values); err != nil {
				return err
			}
			if f.asJSON {
				return nil // the API answers 204, no body
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: pushed %s\n", args[0], strings.Join(args[1:], " "))
			return err
		},
	}
	cmd.Flags().StringVar(&at, "time", "", "when the values were taken, RFC3339 (default now)")
	cmd.Flags().StringVar(&file, "file", "", "read many groups' values, the JSON body of POST /v1/signals, from `FILE` (- is stdin)")
	f.add(cmd)
	return cmd
}

// parseValues parses SIGNAL=VALUE arguments; its error, a usage error,
// names every bad one.
func parseValues(args []string) (map[string]float64, error) {
	values := make(map[string]float64, len(args))
	var bad []string
	seen := map[string]bool{}
	for _, arg := range args {
		name, num, ok := strings.Cut(arg, "=")
		var problem string
		v, err := strconv.ParseFloat(num, 64)
		switch {
		case !ok:
			problem = "want SIGNAL=VALUE"
		case name == "":
			problem = "no signal name"
		case err != nil:
			problem = "not a number"
		case math.IsNaN(v) || math.IsInf(v, 0):
			problem = "not a finite number"
		case seen[name]:
			problem = name + " given twice"
		}
		seen[name] = true
		if problem != "" {
			bad = append(bad, arg+": "+problem)
			continue
		}
		values[name] = v
	}
	if len(bad) > 0 {
		return nil, usageErrorf("%s", strings.Join(bad, "; "))
	}
	return values, nil
}

// pushFile sends the file's batch with one POST /v1/signals.
func pushFile(cmd *cobra.Command, f *apiFlags, file string) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return usageErrorf("--file: %w", err)
	}
	var req client.PushManyRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return usageErrorf("--file %s: %w", file, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return usageErrorf("--file %s: data after the JSON value", file)
	}
	var ans client.PushManyAnswer
	return f.call(cmd, func(c context.Context, cl *client.Client, out any) error {
		return cl.PushMany(c, req, out)
	}, &ans, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "pushed %d samples for %d groups\n", ans.Samples, ans.Groups)
		return err
	})
}
