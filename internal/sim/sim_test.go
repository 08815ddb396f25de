package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/engine"
)

var start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func newEngine(t *testing.T, doc string) *engine.Engine {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const oneGroup = `
groups:
  - name: web
    capacity: {min: 1, max: 20}
    interval: 10s
    signals: {rps: {stale: 30s}, per: {expr: "rps / ready"}}
    policies: [{queue: {signal: rps, per_instance: 100}}]
    behavior: {down: {window: 0s}}
    lifecycle: {launch: {boot: 25s}}
`

const twoGroups = `
groups:
  - name: a
    capacity: {min: 1, max: 5}
    signals: {x: {}}
    policies: [{fixed: {desired: 1}}]
  - name: b
    capacity: {min: 1, max: 5}
    signals: {x: {}}
    policies: [{fixed: {desired: 1}}]
`

func TestReadSignalsErrors(t *testing.T) {
	tests := []struct {
		name, config, csv, want string
	}{
		{name: "empty", config: oneGroup, csv: "", want: "in.csv: empty file"},
		{name: "no t column", config: oneGroup, csv: "time,rps\n0,1\n", want: `in.csv:1:1: first column must be t`},
		{name: "unknown signal", config: oneGroup, csv: "t,rsp\n0,1\n", want: `in.csv:1:2: column "rsp": group web has no signal "rsp" (signals: per, rps)`},
		{name: "derived signal", config: oneGroup, csv: "t,per\n0,1\n", want: `signal per of group web is derived`},
		{name: "unqualified with two groups", config: twoGroups, csv: "t,x\n0,1\n", want: `name it group/signal: the config has 2 groups`},
		{name: "unknown group", config: twoGroups, csv: "t,c/x\n0,1\n", want: `no group "c"`},
		{name: "duplicate column", config: twoGroups, csv: "t,a/x,a/x\n0,1,2\n", want: `feeds the same signal`},
		{name: "bad number", config: oneGroup, csv: "t,rps\n0,1\n10,lots\n", want: `in.csv:3:2: rps must be a number or empty, not "lots"`},
		{name: "time goes back", config: oneGroup, csv: "t,rps\n0,1\n10,1\n5,1\n", want: `in.csv:4:1: t 5 is not after the previous row's 10`},
		{name: "short row", config: oneGroup, csv: "t,rps\n0\n", want: `in.csv:2: has 1 fields, want 2`},
		{name: "no rows", config: oneGroup, csv: "t,rps\n", want: `no rows after the header`},
		{name: "infinite", config: oneGroup, csv: "t,rps\n0,Inf\n", want: `must be a number or empty`},
		{name: "malformed quote", config: oneGroup, csv: "t,rps\n0,\"1\n", want: `in.csv: parse error on line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.config)
			_, err := ReadSignals("in.csv", strings.NewReader(tt.csv), e.Groups)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReplayBootAndStale(t *testing.T) {
	e := newEngine(t, oneGroup)
	s, err := ReadSignals("in.csv", strings.NewReader("t,rps\n0,100\n20,450\n40,\n100,100\n"), e.Groups)
	if err != nil {
		t.Fatal(err)
	}
	res := ReplaySignals(e, s, Options{Start: start})
	var got []string
	for _, r := range res.Timeline {
		got = append(got, fmt.Sprintf("%v/%d/%d", r.T, r.Desired, r.Ready))
	}
	// 450 rps at t=20 → 5 instances; ready 25 s later (t=45). The empty
	// cell at t=40 stops the samples; the last (t=30) goes stale after
	// 30 s, so from t=70 the queue policy holds (missing: hold) until
	// values return at t=100 and the group scales in to 1.
	want := "0/1/1 20/5/1 50/5/5 100/1/1"
	if strings.Join(got, " ") != want {
		t.Fatalf("timeline %v, want %s", got, want)
	}
	sum := res.Summary.Groups["web"]
	if sum.MissingTicks != 3 || sum.ScaleOuts != 1 || sum.ScaleIns != 1 || sum.MaxDesired != 5 {
		t.Fatalf("summary %+v", sum)
	}
	// 20 s at 1 instance, 80 s at 5 (booting included).
	if sum.InstanceSeconds != 20+80*5 {
		t.Fatalf("instance seconds %v, want 420", sum.InstanceSeconds)
	}
	if res.Summary.Ticks != 11 {
		t.Fatalf("ticks %d, want 11", res.Summary.Ticks)
	}
}
