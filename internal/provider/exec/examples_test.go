package exec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// The example scripts under examples/exec drive kubectl and nomad, which
// cannot run here against a cluster. These tests run them against stand-in
// kubectl and nomad commands that print what the real ones print for the
// flags used (jsonpath and Go template output, one line per item) and
// record what they were asked to change, so the scripts' parsing, their
// schema output and the calls they make are checked.

// stubs writes the stand-in commands into a directory put first on PATH.
func stubs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		writeScript(t, dir, name, body)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func example(t *testing.T, name string, args ...string) *Config {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", "exec", name))
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, script, nil)
	c.Observe = append([]string{sh(t), script}, args...)
	c.SetDesired, c.Remove = c.Observe, c.Observe
	c.Picks = picksSystem
	return c
}

func TestFlinkExample(t *testing.T) {
	dir := stubs(t, map[string]string{"kubectl": `echo "$*" >>"$(dirname "$0")/calls"
case "$*" in
*"get flinkdeployment clickstream -o jsonpath={.spec.job.parallelism}") printf 3 ;;
*"get pods -l app=clickstream,component=taskmanager -o jsonpath="*)
	printf 'clickstream-taskmanager-1-1|2026-01-01T10:00:00Z|True|\n'
	printf 'clickstream-taskmanager-1-3|2026-01-01T10:00:02Z||\n'
	printf 'clickstream-taskmanager-1-2|2026-01-01T10:00:01Z|True|2026-01-01T11:00:00Z\n' ;;
*"patch flinkdeployment clickstream --type merge -p "*) ;;
*) echo "kubectl stub: unexpected $*" >&2; exit 1 ;;
esac
`})
	c := example(t, "flink-parallelism.sh", "streams", "{{.Group}}")
	cp, obs, got := observeExample(t, c, "clickstream")
	ctx := context.Background()
	want := []string{ // highest name first
		"clickstream-taskmanager-1-3 10:00:02 - -",
		"clickstream-taskmanager-1-2 10:00:01 ready leaving",
		"clickstream-taskmanager-1-1 10:00:00 ready -",
	}
	if d := cmp.Diff(want, got); d != "" || obs.Desired != 3 || obs.Min != -1 || obs.Max != -1 {
		t.Errorf("observed desired %d, min %d, max %d; instances (-want +got):\n%s", obs.Desired, obs.Min, obs.Max, d)
	}
	if err := cp.SetDesired(ctx, 5); err != nil {
		t.Fatalf("set desired: %v", err)
	}
	// One victim listed, one long gone: parallelism 3 - 1.
	if err := cp.Remove(ctx, []provider.Victim{{ID: "clickstream-taskmanager-1-3"}, {ID: "clickstream-taskmanager-0-9"}}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := cp.SetDesired(ctx, 0); err == nil || !strings.Contains(err.Error(), "parallelism 0") {
		t.Errorf("set desired 0: %v; want refused", err)
	}
	var patches []string
	for _, l := range lines(t, filepath.Join(dir, "calls")) {
		if strings.Contains(l, " patch ") {
			patches = append(patches, l)
		}
	}
	wantPatches := []string{
		`--namespace streams patch flinkdeployment clickstream --type merge -p {"spec":{"job":{"parallelism":5}}}`,
		`--namespace streams patch flinkdeployment clickstream --type merge -p {"spec":{"job":{"parallelism":2}}}`,
	}
	if d := cmp.Diff(wantPatches, patches); d != "" {
		t.Errorf("kubectl patches (-want +got):\n%s", d)
	}
}

func TestNomadExample(t *testing.T) {
	dir := stubs(t, map[string]string{"nomad": `echo "$*" >>"$(dirname "$0")/calls"
case "$1 $2" in
"job inspect") printf 'db 1\nweb 4 1 10\n' ;;
"job allocs")
	# created 2026-01-01T10:00:0Ns, in nanoseconds
	printf 'web|shop.web[0]|a0|running|run|1767261600000000000\n'
	printf 'web|shop.web[10]|a10|running|run|1767261601000000000\n'
	printf 'db|shop.db[0]|d0|running|run|1767261600000000000\n'
	printf 'web|shop.web[2]|a2|pending|run|1767261602000000000\n'
	printf 'web|shop.web[3]|a3|complete|stop|1767261603000000000\n'
	printf 'web|shop.web[1]|a1|running|stop|1767261604000000000\n' ;;
"job scale") ;;
*) echo "nomad stub: unexpected $*" >&2; exit 1 ;;
esac
`})
	c := example(t, "nomad-group.sh", "shop", "{{.Group}}")
	cp, obs, got := observeExample(t, c, "web")
	ctx := context.Background()
	want := []string{ // highest name index first, as Nomad stops them
		"a10 10:00:01 ready -",
		"a2 10:00:02 - -",
		"a1 10:00:04 ready leaving",
		"a0 10:00:00 ready -",
	}
	if d := cmp.Diff(want, got); d != "" || obs.Desired != 4 || obs.Min != 1 || obs.Max != 10 {
		t.Errorf("observed desired %d, min %d, max %d; instances (-want +got):\n%s", obs.Desired, obs.Min, obs.Max, d)
	}
	if d := cmp.Diff([]string{"a10", "a2"}, cp.(provider.Picker).Pick(obs, 2)); d != "" {
		t.Errorf("pick 2 (-want +got):\n%s", d)
	}
	if err := cp.SetDesired(ctx, 6); err != nil {
		t.Fatalf("set desired: %v", err)
	}
	// a1 is already stopping and a3 is gone: only a10 and a2 count.
	if err := cp.Remove(ctx, []provider.Victim{{ID: "a10"}, {ID: "a2"}, {ID: "a1"}, {ID: "a3"}}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	var scales []string
	for _, l := range lines(t, filepath.Join(dir, "calls")) {
		if strings.HasPrefix(l, "job scale") {
			scales = append(scales, l)
		}
	}
	if d := cmp.Diff([]string{"job scale -detach shop web 6", "job scale -detach shop web 2"}, scales); d != "" {
		t.Errorf("nomad job scale calls (-want +got):\n%s", d)
	}
}

func yes(b bool, s string) string {
	if b {
		return s
	}
	return "-"
}

// observeExample opens the example's provider for group and lists what it
// observes, an instance a line: ID, launch time, ready, leaving.
func observeExample(t *testing.T, c *Config, group string) (provider.Capacity, provider.Observed, []string) {
	t.Helper()
	clk, _ := fakeClock()
	p, err := Kind().Open(c, provider.Deps{Group: group, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cp := p.(provider.Capacity)
	obs, err := cp.Observe(context.Background())
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	var got []string
	for _, in := range obs.Instances {
		got = append(got, in.ID+" "+in.LaunchedAt.Format("15:04:05")+" "+yes(in.Ready, "ready")+" "+yes(in.Leaving, "leaving"))
	}
	return cp, obs, got
}
