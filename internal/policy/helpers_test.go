package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// tol is the tolerance the engine uses by default.
var tol = Tolerance{Up: 0.1, Down: 0.1}

// indexOf maps signal names to their position in names, like the engine's
// index.
func indexOf(names ...string) IndexFunc {
	return func(s string) int { return slices.Index(names, s) }
}

// mustNew builds a policy or fails the test.
func mustNew(t *testing.T, spec config.Policy, signals ...string) Policy {
	t.Helper()
	p, err := New(spec, indexOf(signals...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// vals is a present value per signal, in index order.
func vals(vs ...float64) []Value {
	out := make([]Value, len(vs))
	for i, v := range vs {
		out[i] = Value{V: v, OK: true}
	}
	return out
}

// outcome is what the tests compare of a Recommendation: everything but the
// reason, whose text is checked for its numbers instead.
type outcome struct {
	Opinion model.Opinion
	Desired int
	Bounds  model.Bounds
}

func recommends(n int) outcome { return outcome{Opinion: model.Recommend, Desired: n} }

var abstains = outcome{Opinion: model.Abstain}

// expect checks a Recommendation: its outcome, and that its reason contains
// each of the fragments and no unfilled placeholder.
func expect(t *testing.T, got model.Recommendation, err error, want outcome, reason ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("Evaluate: unexpected error %v", err)
	}
	if diff := cmp.Diff(want, outcome{got.Opinion, got.Desired, got.Bounds}); diff != "" {
		t.Errorf("recommendation (-want +got):\n%s\nreason: %s", diff, got.Reason)
	}
	checkReason(t, got.Reason, reason...)
}

func checkReason(t *testing.T, r model.Reason, fragments ...string) {
	t.Helper()
	text := r.String()
	if text == "" {
		t.Errorf("empty reason")
	}
	// A '?' is what Reason prints for a placeholder without an argument; a
	// '{' is a build-time placeholder left unfilled.
	if strings.ContainsAny(text, "?{}") {
		t.Errorf("reason %q has an unfilled placeholder", text)
	}
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			t.Errorf("reason %q does not contain %q", text, f)
		}
	}
}

// expectErr checks that Evaluate failed with an error containing want.
func expectErr(t *testing.T, got model.Recommendation, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Evaluate = %v (%s), want error containing %q", got.Desired, got.Reason, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func f64(f float64) *float64 { return &f }
func intp(i int) *int        { return &i }

func dur(s string) config.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return config.Duration(d)
}
