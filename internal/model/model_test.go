package model

import (
	"encoding/json"
	"github.com/google/go-cmp/cmp"
	"strings"
	"testing"
	"time"
)

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		r    Reason
		want string
	}{
		{name: "plain", r: Because("hold"), want: "hold"},
		{name: "numbers", r: Because("%v of %v at %v%%", Num(0.8449), Int(14), Num(12.5)), want: "0.845 of 14 at 12.5%"},
		{name: "duration and string", r: Because("%v window %v", Str("down"), Dur(20*time.Minute)), want: "down window 20m"},
		{name: "too few args", r: Because("%v and %v", Int(1)), want: "1 and ?"},
		{name: "tiny and infinite", r: Because("%v %v", Num(0.00012), Num(1/zero())), want: "0.00012 inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func zero() float64 { return 0 }

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 250 * time.Millisecond: "250ms",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDecisionJSON(t *testing.T) {
	d := Decision{
		Group: "web", Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Current: 10, Desired: 12, Direction: Up, Min: 1, Max: 20,
		Inputs:   []SignalValue{{Name: "cpu", Value: 0.9}},
		Policies: []Recommendation{{Policy: "target(cpu)", Opinion: Recommend, Desired: 15, Reason: Because("ceil(%v)", Num(15))}},
		Proposed: 15, Decider: 0,
		Steps: []Step{{Stage: StageRateLimit, From: 15, To: 12, Reason: Because("limit allows %v", Int(12))}},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["reason"] != "limit allows 12" || got["bound"] != "rate_limit" || got["direction"] != "up" {
		t.Fatalf("reason/bound/direction wrong: %s", b)
	}
	if p := got["policies"].([]any)[0].(map[string]any); p["reason"] != "ceil(15)" {
		t.Fatalf("policy reason not rendered: %s", b)
	}
	// No steps: the reason is the deciding policy's.
	d.Steps = nil
	if r := d.Reason(); r != "target(cpu): ceil(15)" {
		t.Fatalf("Reason() = %q", r)
	}
	var text strings.Builder
	if err := d.WriteText(&text); err != nil || !strings.Contains(text.String(), "target(cpu)  15  ceil(15)") {
		t.Fatalf("text:\n%s", text.String())
	}
}

func TestDatapoints(t *testing.T) {
	var d Datapoints
	for _, yes := range []bool{true, false, true, true} {
		d.Push(yes, 3)
	}
	if got := d.Count(3); got != 2 {
		t.Fatalf("Count(3) = %d, want 2 (false, true, true)", got)
	}
	for range 70 {
		d.Push(true, 64)
	}
	if got := d.Count(64); got != 64 {
		t.Fatalf("Count(64) = %d after 70 yes, want 64", got)
	}
}

func TestEnded(t *testing.T) {
	for s, want := range map[InstanceState]bool{
		Pending: false, Launching: false, InService: false, Draining: false,
		Terminating: false, Unhealthy: false, Terminated: true, Failed: true,
	} {
		if got := s.Ended(); got != want {
			t.Errorf("%s.Ended() = %t, want %t", s, got, want)
		}
	}
}

// A policy named after its signal says the name once in the one-line
// reason.
func TestReasonSaysThePolicyNameOnce(t *testing.T) {
	for _, tt := range []struct{ policy, reason, want string }{
		{"backlog", "backlog: 7 items at 2 per instance", "backlog: 7 items at 2 per instance"},
		{"queue(backlog)", "backlog: 7 items at 2 per instance", "queue(backlog): backlog: 7 items at 2 per instance"},
		{"utilization", "utilization 0.833 vs target 0.7", "utilization 0.833 vs target 0.7"},
		{"util", "utilization 0.833 vs target 0.7", "util: utilization 0.833 vs target 0.7"},
	} {
		d := Decision{Decider: 0, Policies: []Recommendation{{Policy: tt.policy, Reason: Because(tt.reason)}}}
		if got := d.Reason(); got != tt.want {
			t.Errorf("Reason() = %q, want %q", got, tt.want)
		}
	}
}

// A decision read back from its JSON (the journal, as a replica following
// the leader reads it) renders as it did, a literal % included.
func TestDecisionJSONRoundTrip(t *testing.T) {
	d := Decision{
		Group: "web", Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Current: 10, Desired: 12, Direction: Up, Min: 1, Max: 20,
		Inputs:   []SignalValue{{Name: "cpu", Value: 0.9}},
		Policies: []Recommendation{{Policy: "target(cpu)", Opinion: Recommend, Desired: 15, Reason: Because("ceil(%v) at 90%% of %v", Num(15), Str("100%v"))}},
		Proposed: 15, Decider: 0,
		Steps: []Step{{Stage: StageRateLimit, From: 15, To: 12, Reason: Because("limit allows %v", Int(12))}},
		Notes: []Reason{Because("note %v", Dur(90*time.Second))},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Decision
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	var want, got strings.Builder
	if err := d.WriteText(&want); err != nil {
		t.Fatal(err)
	}
	if err := back.WriteText(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("text after a JSON round trip (-before +after):\n%s", diff)
	}
	if b2, _ := json.Marshal(back); string(b2) != string(b) {
		t.Errorf("JSON after a round trip:\n%s\nwant\n%s", b2, b)
	}
	var r Reason
	if err := json.Unmarshal([]byte(`3`), &r); err == nil {
		t.Error("a reason that is not a string was accepted")
	}
}
