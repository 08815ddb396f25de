package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// A state file that is lost (missing) or emptied between two runs of ebb
// does not start a second fleet: the next ebb adopts the instances that
// run, starts from their number, and launches nothing.
func TestLostStateFileAdoptsTheFleet(t *testing.T) {
	for _, how := range []string{"missing", "empty"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ebb.yaml")
			if err := os.WriteFile(path, []byte(runConfig(dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, path, "secret")
			ctx := context.Background()
			if err := d.c.Push(ctx, "web", time.Time{}, map[string]float64{"want": 2}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "2 instances in service", func() bool { return len(inService(t, d.c)) == 2 })
			var before []string
			for _, in := range inService(t, d.c) {
				before = append(before, in.ID)
			}
			d.stop()

			db := filepath.Join(dir, "ebb.db")
			switch how {
			case "missing":
				if err := os.Remove(db); err != nil {
					t.Fatal(err)
				}
			case "empty":
				if err := os.Truncate(db, 0); err != nil {
					t.Fatal(err)
				}
			}
			d = startDaemon(t, path, "secret")
			defer func() {
				// Stop what runs: scale to 0 and wait for the drains.
				d.c.Push(ctx, "web", time.Time{}, map[string]float64{"want": 0})
				eventually(t, 30*time.Second, "instances drained", func() bool { return len(live(t, d)) == 0 })
				d.stop()
			}()
			eventually(t, 20*time.Second, "the 2 running instances adopted and in service", func() bool {
				return len(inService(t, d.c)) == 2
			})
			var all []model.Instance
			if err := d.c.Instances(ctx, "web", true, &all); err != nil {
				t.Fatal(err)
			}
			var after []string
			for _, in := range all { // ended ones too: nothing else was launched
				after = append(after, in.ID)
			}
			slices.Sort(before)
			slices.Sort(after)
			if !slices.Equal(before, after) {
				t.Fatalf("instances recorded after the restart %v; want exactly the ones running before, %v", after, before)
			}
			var g struct {
				Desired int `json:"desired"`
			}
			if err := d.c.Group(ctx, "web", &g); err != nil {
				t.Fatal(err)
			}
			if g.Desired != 2 {
				t.Fatalf("desired %d after adoption; want the 2 found running", g.Desired)
			}
		})
	}
}

// live lists the group's instances that have not ended.
func live(t *testing.T, d *daemonUnderTest) []model.Instance {
	t.Helper()
	var insts []model.Instance
	if err := d.c.Instances(context.Background(), "web", true, &insts); err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(insts, func(in model.Instance) bool { return in.State.Ended() })
}
