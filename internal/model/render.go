package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// MarshalJSON adds the one-line reason and the binding stage to the fields.
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision // drops this method
	out := struct {
		plain
		Reason string `json:"reason"`
		Bound  Stage  `json:"bound,omitempty"`
	}{plain: plain(d), Reason: d.Reason()}
	if s, ok := d.Bound(); ok {
		out.Bound = s.Stage
	}
	if out.Inputs == nil {
		out.Inputs = []SignalValue{}
	}
	if out.Policies == nil {
		out.Policies = []Recommendation{}
	}
	if out.Steps == nil {
		out.Steps = []Step{}
	}
	return json.Marshal(out)
}

// WriteText renders the decision for people: inputs, each policy's answer,
// how they combined, each stage that changed the number, and the result.
func (d *Decision) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s: %d → %d (%s)\n", d.Group, d.Time.UTC().Format(time.RFC3339), d.Current, d.Desired, d.Direction)
	b.WriteString("  inputs:")
	if len(d.Inputs) == 0 {
		b.WriteString(" none")
	}
	for _, in := range d.Inputs {
		switch {
		case in.Missing:
			fmt.Fprintf(&b, "  %s=missing", in.Name)
		case in.Substituted:
			fmt.Fprintf(&b, "  %s=%s (missing, treated as)", in.Name, FormatNum(in.Value))
		default:
			fmt.Fprintf(&b, "  %s=%s", in.Name, FormatNum(in.Value))
		}
	}
	b.WriteString("\n  policies:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, p := range d.Policies {
		n := "-"
		if p.Opinion == Recommend {
			n = fmt.Sprint(p.Desired)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", p.Policy, n, p.Reason)
	}
	tw.Flush()
	fmt.Fprintf(&b, "  combined: %d: %s\n", d.Proposed, d.Combined)
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, s := range d.Steps {
		fmt.Fprintf(&b, "  %s: %d → %d: %s\n", s.Stage, s.From, s.To, s.Reason)
	}
	fmt.Fprintf(&b, "  bounds: min %d, max %d\n", d.Min, d.Max)
	if s, ok := d.Bound(); ok {
		fmt.Fprintf(&b, "  result: %d, bound by %s\n", d.Desired, s.Stage)
	} else {
		fmt.Fprintf(&b, "  result: %d\n", d.Desired)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
