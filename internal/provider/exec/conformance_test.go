package exec

import (
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
)

// system is testdata/group.sh with its state in a fresh directory.
type system struct {
	script, state string
	picks         string
}

func newSystem(t *testing.T, picks string) *system {
	script, err := filepath.Abs("testdata/group.sh")
	if err != nil {
		t.Fatal(err)
	}
	return &system{script: script, state: t.TempDir(), picks: picks}
}

func (s *system) open(t *testing.T) provider.Capacity {
	c := testConfig(t, s.script, map[string]string{"STATE": s.state, "PICKS": s.picks})
	c.Picks = s.picks
	clk, _ := fakeClock()
	return openWith(t, c, clk)
}

// converge runs the script's controller step.
func (s *system) converge(t *testing.T) {
	t.Helper()
	cmd := osexec.Command(sh(t), s.script, "converge")
	cmd.Env = append(os.Environ(), "STATE="+s.state)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("converge: %v: %s", err, out)
	}
}

// external sets the desired count as an operator would.
func (s *system) external(t *testing.T, n int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.state, "desired"), []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *system) harness() capacitytest.Harness {
	return capacitytest.Harness{Open: s.open, Converge: s.converge, External: s.external}
}

func TestConformance(t *testing.T) {
	s := newSystem(t, picksEbb)
	capacitytest.Run(t, s.harness())
	// The suite's calls with an ended context must not have run anything.
	for _, op := range lines(t, filepath.Join(s.state, "runs")) {
		if op != "observe" && op != "set_desired" && op != "remove" {
			t.Errorf("a run with op %q", op)
		}
	}
}

// TestConformanceSystemPicks runs the suite on a group that chooses what
// a remove takes (the first listed): the provider is then a Picker that
// names exactly those.
func TestConformanceSystemPicks(t *testing.T) {
	s := newSystem(t, picksSystem)
	h := s.harness()
	open := h.Open
	h.Open = func(t *testing.T) provider.Capacity {
		p := open(t)
		if _, ok := p.(provider.Picker); !ok {
			t.Fatalf("picks: system opened a %T, not a provider.Picker", p)
		}
		return p
	}
	capacitytest.Run(t, h)
}

// TestStdin checks what every command gets on stdin.
func TestStdin(t *testing.T) {
	s := newSystem(t, picksEbb)
	p := s.open(t)
	ctx := context.Background()
	if err := p.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	s.converge(t)
	if _, err := p.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: "i-3"}, {ID: "i-1"}, {ID: "i-3"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(ctx, nil); err != nil {
		t.Fatalf("remove nothing: %v", err)
	}
	want := map[string][]map[string]any{
		"set_desired": {{"version": 1.0, "group": "web", "op": "set_desired", "desired": 3.0}},
		"observe":     {{"version": 1.0, "group": "web", "op": "observe"}},
		// Sorted, without repeats.
		"remove": {{"version": 1.0, "group": "web", "op": "remove", "victims": []any{"i-1", "i-3"}}},
	}
	for op, w := range want {
		var got []map[string]any
		for _, l := range lines(t, filepath.Join(s.state, "stdin."+op)) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("stdin of %s: %q: %v", op, l, err)
			}
			got = append(got, m)
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("stdin of %s (-want +got):\n%s", op, d)
		}
	}
	// Removing nothing ran nothing.
	if d := cmp.Diff([]string{"set_desired", "observe", "remove"}, lines(t, filepath.Join(s.state, "runs"))); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
	obs, err := p.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Desired != 1 || len(obs.Instances) != 1 || obs.Instances[0].ID != "i-2" || obs.Min != 0 || obs.Max != 50 ||
		obs.Instances[0].Addr != "127.0.0.1:20002" || obs.Instances[0].Zone != "z0" {
		t.Errorf("after removing i-1 and i-3 of 3: %+v", obs)
	}
}
