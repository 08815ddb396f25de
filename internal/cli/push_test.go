package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

func TestPushCommand(t *testing.T) {
	fb, base := fakeAPI(t)
	api := []string{"--api", base, "--token", "s3cret"}
	batch := write(t, "batch.json", `{"time": "2026-03-01T11:59:30Z", "groups": {"web": {"queue": 120, "cpu": 0.6}}}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		pushed map[string]map[string]float64
		at     time.Time
	}{
		{name: "values", args: []string{"push", "web", "queue=120", "cpu=6e-1"}, stdout: "web: pushed queue=120 cpu=6e-1\n",
			pushed: map[string]map[string]float64{"web": {"queue": 120, "cpu": 0.6}}},
		{name: "with a time", args: []string{"push", "web", "queue=-3", "--time", "2026-03-01T11:59:30.5+01:00"}, stdout: "web: pushed queue=-3\n",
			pushed: map[string]map[string]float64{"web": {"queue": -3}}, at: time.Date(2026, 3, 1, 10, 59, 30, 5e8, time.UTC)},
		{name: "file", args: []string{"push", "--file", batch}, stdout: "pushed 2 samples for 1 groups\n",
			pushed: map[string]map[string]float64{"web": {"queue": 120, "cpu": 0.6}}, at: t0.Add(-30 * time.Second)},
		{name: "every bad argument", args: []string{"push", "web", "queue", "=3", "cpu=NaN", "mem=+Inf", "rps=1", "rps=2", "x=0x"}, code: 2,
			stderr: "ebb: queue: want SIGNAL=VALUE; =3: no signal name; cpu=NaN: not a finite number; mem=+Inf: not a finite number; rps=2: rps given twice; x=0x: not a number\n"},
		{name: "file and values", args: []string{"push", "web", "queue=1", "--file", batch}, code: 2,
			stderr: "ebb: --file takes no GROUP, SIGNAL=VALUE or --time: the file holds them\n"},
		{name: "file not JSON", args: []string{"push", "--file", write(t, "x.json", "queue=1")}, code: 2, stderr: "invalid character"},
		{name: "file with an unknown field", args: []string{"push", "--file", write(t, "x.json", `{"values": {"queue": 1}}`)}, code: 2,
			stderr: `json: unknown field "values"`},
		{name: "file with two values", args: []string{"push", "--file", write(t, "x.json", `{"groups": {}} {}`)}, code: 2,
			stderr: "data after the JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb.pushed, fb.pushedAt = nil, time.Time{}
			code, out, errs := run(t, append(tt.args, api...)...)
			if code != tt.code || out != tt.stdout || !strings.Contains(errs, tt.stderr) || (tt.stderr == "" && errs != "") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errs, tt.code, tt.stdout, tt.stderr)
			}
			if diff := cmp.Diff(tt.pushed, fb.pushed); diff != "" {
				t.Fatalf("pushed (-want +got):\n%s", diff)
			}
			if !fb.pushedAt.Equal(tt.at) {
				t.Fatalf("time %s, want %s", fb.pushedAt, tt.at)
			}
		})
	}
}

// --file - reads the batch from stdin.
func TestPushFileFromStdin(t *testing.T) {
	fb, base := fakeAPI(t)
	cmd := pushCmd()
	var out bytes.Buffer
	cmd.SetIn(strings.NewReader(`{"groups": {"web": {"queue": 7}}}`))
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--file", "-", "--api", base, "--token", "s3cret"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "pushed 1 samples for 1 groups\n" || fb.pushed["web"]["queue"] != 7 {
		t.Fatalf("stdout %q, pushed %v", out.String(), fb.pushed)
	}
}

// Against a real daemon: a refused batch reaches no decision, and a good
// one, and ebb push, reach the groups' next decisions.
func TestPushToARunningEbb(t *testing.T) {
	dir := t.TempDir()
	group := func(name string) string {
		return fmt.Sprintf(`
  - name: %s
    capacity: {min: 0, max: 10}
    interval: 1s
    signals: {want: {stale: 1h}}
    policies: [{queue: {signal: want, per_instance: 1}}]`, name)
	}
	path := write(t, "ebb.yaml", fmt.Sprintf("store: {path: %s/ebb.db}\napi: {listen: \"127.0.0.1:0\"}\ngroups:%s%s\n", dir, group("web"), group("batch")))
	d := startDaemon(t, path, "s3cret")
	defer d.stop()
	api := []string{"--api", d.c.Base, "--token", "s3cret"}

	bad := write(t, "bad.json", `{"groups": {"web": {"want": 7}, "batch": {"want": 7, "cpu": 1}, "nope": {"want": 1}}}`)
	refused := time.Now()
	code, out, errs := run(t, append([]string{"push", "--file", bad}, api...)...)
	want := "ebb: batch refused, none of its 4 samples applied: group batch, signal cpu: no such signal; group nope: no such group (400 Bad Request)\n"
	if code != 1 || out != "" || errs != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errs, want)
	}
	// The next decisions still have no value.
	for _, g := range []string{"web", "batch"} {
		var dec decisionInputs
		eventually(t, 10*time.Second, g+" decided after the refused batch", func() bool {
			return d.c.Explain(context.Background(), g, &dec) == nil && dec.Time.After(refused)
		})
		if len(dec.Inputs) != 1 || !dec.Inputs[0].Missing {
			t.Fatalf("%s decided from %+v after the refused batch; want want missing", g, dec.Inputs)
		}
	}
	good := write(t, "good.json", `{"groups": {"web": {"want": 2}, "batch": {"want": 3}}}`)
	if code, out, errs := run(t, append([]string{"push", "--file", good}, api...)...); code != 0 || out != "pushed 2 samples for 2 groups\n" {
		t.Fatalf("exit %d, stdout %q; %s", code, out, errs)
	}
	// Once batch has decided from 3, web's 2 is replaced by 4 by hand.
	decidedFrom := func(group string, v float64) bool {
		var dec decisionInputs
		return d.c.Explain(context.Background(), group, &dec) == nil && dec.from(v)
	}
	eventually(t, 10*time.Second, "batch decided from the batch's 3", func() bool { return decidedFrom("batch", 3) })
	if code, out, errs := run(t, append([]string{"push", "web", "want=4"}, api...)...); code != 0 || out != "web: pushed want=4\n" {
		t.Fatalf("exit %d, stdout %q; %s", code, out, errs)
	}
	eventually(t, 10*time.Second, "web decided from 4", func() bool { return decidedFrom("web", 4) })

	// No decision of either group ever saw the refused batch's 7.
	for _, g := range []string{"web", "batch"} {
		var a struct {
			Decisions []struct {
				Decision decisionInputs `json:"decision"`
			} `json:"decisions"`
		}
		if err := d.c.Activities(context.Background(), g, 1000, &a); err != nil {
			t.Fatal(err)
		}
		if len(a.Decisions) < 2 {
			t.Fatalf("%s: %d decisions in the journal", g, len(a.Decisions))
		}
		for _, e := range a.Decisions {
			if e.Decision.from(7) {
				t.Fatalf("%s decided from the refused 7: %+v", g, e.Decision)
			}
		}
	}
}

// decisionInputs is what a decision's JSON says of its inputs.
type decisionInputs struct {
	Time   time.Time           `json:"time"`
	Inputs []model.SignalValue `json:"inputs"`
}

// from says whether the decision read the one signal at v.
func (d decisionInputs) from(v float64) bool {
	return len(d.Inputs) == 1 && !d.Inputs[0].Missing && d.Inputs[0].Value == v
}
