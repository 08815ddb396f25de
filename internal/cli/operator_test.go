package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// The instance commands against ebb run with real instances: protect keeps
// an instance from scale-in, terminate drains one and lowers desired (no
// replacement), terminate --replace --now stops one at once and a
// replacement launches, an unknown instance is a 404 (exit 1), and every
// action is in ebb activities.
func TestInstanceCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ebb.yaml")
	// A long interval: only the operator changes desired here.
	cfg := strings.Replace(runConfig(dir), "interval: 1s", "interval: 1h", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, path, "s3cret")
	api := []string{"--api", d.c.Base, "--token", "s3cret"}
	ebb := func(args ...string) (int, string, string) { return run(t, append(args, api...)...) }
	defer func() {
		for _, in := range live(t, d) {
			ebb("unprotect", "web", in.ID)
		}
		ebb("scale", "web", "--desired", "0")
		eventually(t, 30*time.Second, "instances stopped", func() bool { return len(live(t, d)) == 0 })
		d.stop()
	}()
	if code, _, errs := ebb("scale", "web", "--desired", "3"); code != 0 {
		t.Fatalf("scale: %s", errs)
	}
	eventually(t, 20*time.Second, "3 instances in service", func() bool { return len(inService(t, d.c)) == 3 })
	insts := inService(t, d.c)
	a, b, c := insts[0].ID, insts[1].ID, insts[2].ID

	if code, out, errs := ebb("protect", "web", a); code != 0 || !strings.Contains(out, a) {
		t.Fatalf("protect: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := ebb("terminate", "web", b); code != 0 {
		t.Fatalf("terminate: %s", errs)
	}
	desired := func() int {
		var g struct {
			Desired int `json:"desired"`
		}
		if err := d.c.Group(context.Background(), "web", &g); err != nil {
			t.Fatal(err)
		}
		return g.Desired
	}
	if got := desired(); got != 2 {
		t.Fatalf("desired %d after terminate; want 2", got)
	}
	eventually(t, 20*time.Second, b+" drained and gone", func() bool { return state(t, d, b).Ended() })

	if code, _, errs := ebb("terminate", "web", c, "--replace", "--now"); code != 0 {
		t.Fatalf("terminate --replace --now: %s", errs)
	}
	if got := desired(); got != 2 {
		t.Fatalf("desired %d after terminate --replace; want 2 kept", got)
	}
	eventually(t, 20*time.Second, "a replacement in service beside the protected one", func() bool {
		in := inService(t, d.c)
		return len(in) == 2 && state(t, d, c).Ended()
	})
	if st := state(t, d, a); st != model.InService {
		t.Fatalf("protected %s is %s", a, st)
	}

	code, _, errs := ebb("drain", "web", "web-nope")
	if code != 1 || !strings.Contains(errs, "no such instance") || !strings.Contains(errs, "404") {
		t.Fatalf("drain of an unknown instance: exit %d, %q; want 1 and a 404", code, errs)
	}
	code, out, errs := ebb("activities", "web")
	if code != 0 {
		t.Fatalf("activities: %s", errs)
	}
	_, operator, _ := strings.Cut(out, "operator (newest first):\n")
	for _, want := range []string{"terminate  " + c, "stopped now; desired unchanged", "terminate  " + b, "draining; desired 3 → 2", "protect    " + a} {
		if !strings.Contains(operator, want) {
			t.Errorf("activities' operator log lacks %q:\n%s", want, operator)
		}
	}
}

// state is an instance's lifecycle state.
func state(t *testing.T, d *daemonUnderTest, id string) model.InstanceState {
	t.Helper()
	var insts []model.Instance
	if err := d.c.Instances(context.Background(), "web", true, &insts); err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if in.ID == id {
			return in.State
		}
	}
	t.Fatalf("no instance %s", id)
	return ""
}
