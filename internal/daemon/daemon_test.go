package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/source"
	"github.com/ebb-autoscaler/ebb/internal/source/httpjson"
	"github.com/ebb-autoscaler/ebb/internal/source/scrape"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a daemon on a fake clock, driven tick by tick by the test.
type harness struct {
	t     *testing.T
	dir   string
	path  string
	clock *clock.Fake
	d     *Daemon
	ctx   context.Context
}

// groupYAML is a group sized by a pushed queue length.
func groupYAML(name string, max int) string {
	return fmt.Sprintf(`
  - name: %s
    capacity: {min: 1, max: %d}
    interval: 10s
    signals:
      queue: {stale: 1m}
    policies:
      - queue: {signal: queue, per_instance: 10}
`, name, max)
}

// patient is a source whose calls the fake clock never times out: a test
// that holds its endpoint decides when the call ends.
const patient = "  patient: {http_json: {timeout: 1h, tries: 1}}\n"

func configYAML(dir, groups string) string { return configWith(dir, patient, groups) }

// configWith is a config with these sources (indented lines under
// sources:) and groups.
func configWith(dir, sources, groups string) string {
	return fmt.Sprintf("store: {path: %q}\napi: {listen: \"127.0.0.1:0\"}\nsources:\n%sgroups:%s",
		filepath.Join(dir, "ebb.db"), sources, groups)
}

// testKinds are the source kinds the daemon's tests read through.
var testKinds = []source.Kind{scrape.Kind(), httpjson.Kind()}

func newHarness(t *testing.T, groups string, opt Options) *harness {
	t.Helper()
	return newHarnessWith(t, patient, groups, opt)
}

// newHarnessWith is newHarness with these sources.
func newHarnessWith(t *testing.T, sources, groups string, opt Options) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, path: filepath.Join(dir, "ebb.yaml"), clock: clock.NewFake(t0), ctx: t.Context()}
	h.write(configWith(dir, sources, groups))
	opt.ConfigPath, opt.Clock, opt.Seed = h.path, h.clock, 1
	if opt.Sources == nil {
		opt.Sources = testKinds
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	d, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.st.Close() })
	h.d = d
	return h
}

func (h *harness) write(cfg string) {
	h.t.Helper()
	if err := os.WriteFile(h.path, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// tick advances the clock by step and runs one decision tick.
func (h *harness) tick(step time.Duration) {
	h.clock.Advance(step)
	h.d.decide(h.ctx)
}

// decide advances the clock by step and runs ticks until group has been
// decided after its reads ended (each read waited for, never more than
// three ticks).
func (h *harness) decide(group string, step time.Duration) model.Decision {
	h.t.Helper()
	before, _ := h.last(group)
	h.tick(step)
	for range 3 {
		if dec, ok := h.last(group); ok && !dec.Time.Equal(before.Time) {
			return dec
		}
		h.d.mu.Lock()
		r := h.d.reads[group]
		h.d.mu.Unlock()
		if r != nil {
			r.wait()
		}
		h.tick(time.Second)
	}
	h.t.Fatalf("%s not decided within 3 ticks", group)
	return model.Decision{}
}

func (h *harness) last(group string) (model.Decision, bool) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	dec, ok := h.d.last[group]
	return dec, ok
}

func (h *harness) push(group string, v float64) {
	h.t.Helper()
	if err := h.d.Push(group, h.clock.Now(), map[string]float64{"queue": v}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) reload() {
	var wg sync.WaitGroup
	h.d.reloadNow(h.ctx, &wg)
}

// A group whose source hangs is decided without it once its reads end;
// meanwhile every other group is decided on time, and a surge pushed to
// one of them is acted on at its next evaluation.
func TestHangingSourceHoldsOnlyItsGroup(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		mu.Unlock()
		select {
		case <-release:
			http.Error(w, "gone", http.StatusNotFound)
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	slow := fmt.Sprintf(`
  - name: slow
    capacity: {min: 1, max: 10}
    interval: 10s
    signals:
      queue: {source: patient, http_json: {url: %q, path: queued}}
    policies:
      - queue: {signal: queue, per_instance: 10}
`, srv.URL)
	h := newHarness(t, groupYAML("fast", 10)+slow, Options{})

	h.push("fast", 5)
	h.tick(0)
	if dec, ok := h.last("fast"); !ok || dec.Desired != 1 {
		t.Fatalf("fast after the first tick: %+v, %v; want decided at 1", dec, ok)
	}
	if _, ok := h.last("slow"); ok {
		t.Fatal("slow was decided while its read hangs")
	}
	// The surge arrives while slow's read still hangs.
	for range 9 {
		h.tick(time.Second)
	}
	h.push("fast", 200)
	h.tick(time.Second)
	dec, _ := h.last("fast")
	if dec.Direction != model.Up || dec.Time != h.clock.Now() {
		t.Fatalf("fast at %s: %s %d → %d at %s; want a scale-out now", h.clock.Now(), dec.Direction, dec.Current, dec.Desired, dec.Time)
	}
	if _, ok := h.last("slow"); ok {
		t.Fatal("slow was decided while its read hangs")
	}
	view, err := h.d.Group("slow")
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Conditions) == 0 || !strings.Contains(view.Conditions[0], "signal reads running for 10s") {
		t.Fatalf("slow's conditions = %q; want its stalled reads", view.Conditions)
	}

	// The endpoint answers (an error): slow is decided at the next tick,
	// with the signal missing, and shows the failure.
	release <- struct{}{}
	h.d.mu.Lock()
	r := h.d.reads["slow"]
	h.d.mu.Unlock()
	r.wait()
	h.tick(time.Second)
	dec, ok := h.last("slow")
	if !ok {
		t.Fatal("slow not decided after its read ended")
	}
	if len(dec.Inputs) != 1 || !dec.Inputs[0].Missing {
		t.Fatalf("slow's inputs = %+v; want queue missing", dec.Inputs)
	}
	view, _ = h.d.Group("slow")
	if len(view.Conditions) != 1 || !strings.Contains(view.Conditions[0], "signal queue: 1 reads failed in a row") ||
		!strings.Contains(view.Conditions[0], "404 Not Found") {
		t.Fatalf("slow's conditions = %q; want the failing read with its cause", view.Conditions)
	}
}

func TestPushRefusesSamplesOutOfTime(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10), Options{})
	now := h.clock.Now()
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"now", now, ""},
		{"within the skew allowance", now.Add(MaxSkew), ""},
		{"five minutes ahead", now.Add(5 * time.Minute), "is 5m ahead of ebb's clock (2026-03-01T12:00:00Z); at most 5s of clock skew is allowed"},
		{"older than stale", now.Add(-2 * time.Minute), "is 2m old, past the signal's stale time 1m (it would count as missing)"},
		{"just fresh", now.Add(-time.Minute), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.d.Push("web", tt.t, map[string]float64{"queue": 1})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid)):
				t.Fatalf("error = %v; want ErrInvalid saying %q", err, tt.want)
			}
		})
	}
	// A sample from the future never got in, so a correct one counts.
	h.clock.Advance(MaxSkew)
	h.push("web", 95)
	h.tick(0)
	if dec, _ := h.last("web"); dec.Inputs[0].Value != 95 {
		t.Fatalf("queue = %v; want the last correct push, 95", dec.Inputs[0].Value)
	}
}

// A config file that cannot be read for a moment is read again at the
// next poll: the change it holds is applied.
func TestReloadRetriesAFileItCouldNotRead(t *testing.T) {
	var mu sync.Mutex
	fail := false
	h := newHarness(t, groupYAML("web", 10), Options{readFile: func(p string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, &os.PathError{Op: "open", Path: p, Err: errors.New("resource temporarily unavailable")}
		}
		return os.ReadFile(p)
	}})
	h.write(configYAML(h.dir, groupYAML("web", 7)))
	mu.Lock()
	fail = true
	mu.Unlock()
	h.reload()
	if g, _ := h.d.Group("web"); g.Max != 10 {
		t.Fatalf("max = %d after a failed read; want 10 kept", g.Max)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// What the poll does: reload when the file's mtime differs from the
	// one applied.
	fi, _ := os.Stat(h.path)
	h.d.mu.Lock()
	changed := !fi.ModTime().Equal(h.d.modTime)
	h.d.mu.Unlock()
	if !changed {
		t.Fatal("the unread file was marked as seen")
	}
	h.reload()
	if g, _ := h.d.Group("web"); g.Max != 7 {
		t.Fatalf("max = %d; want 7 once the file reads", g.Max)
	}
}

// Dropping a group that still has instances is refused, at a reload and at
// start, naming the instances and what to do.
func TestDroppingAGroupWithInstancesIsRefused(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10)+groupYAML("batch", 5), Options{})
	err := h.d.st.Update(func(tx *store.Tx) error {
		return tx.PutInstance(model.Instance{ID: "batch-1", Group: "batch", State: model.InService, LaunchedAt: t0, StateSince: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	h.write(configYAML(h.dir, groupYAML("web", 10)))
	h.reload()
	if _, err := h.d.Group("batch"); err != nil {
		t.Fatalf("batch was dropped: %v", err)
	}
	h.d.mu.Lock()
	rejected := h.d.rejected
	h.d.mu.Unlock()
	want := "group batch is not in the config but still has 1 instances (batch-1): keep it with capacity {min: 0, max: 0} until they have drained"
	if !strings.Contains(rejected, want) {
		t.Fatalf("rejection = %q; want %q", rejected, want)
	}
	h.d.st.Close()
	if _, err := New(Options{ConfigPath: h.path, Clock: h.clock, Sources: testKinds}); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start with the group dropped: %v; want %q", err, want)
	}
}

// Once its instances are gone, the group may go.
func TestDroppingAGroupWithoutInstances(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10)+groupYAML("batch", 5), Options{})
	err := h.d.st.Update(func(tx *store.Tx) error {
		return tx.PutInstance(model.Instance{ID: "batch-1", Group: "batch", State: model.Terminated, LaunchedAt: t0, StateSince: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	h.write(configYAML(h.dir, groupYAML("web", 10)))
	h.reload()
	if _, err := h.d.Group("batch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("batch still there: %v", err)
	}
}

func TestReloadReadsTheNewToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	groups := groupYAML("web", 10)
	h := newHarness(t, groups, Options{})
	cfg := strings.Replace(configYAML(h.dir, groups), "api: {", fmt.Sprintf("api: {token_file: %q, ", tokenFile), 1)
	h.write(cfg)
	h.reload()
	if got := h.d.Token(); got != "old" {
		t.Fatalf("token = %q; want old", got)
	}
	if err := os.WriteFile(tokenFile, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.reload()
	if got := h.d.Token(); got != "new" {
		t.Fatalf("token after reload = %q; want new", got)
	}
}

// Lowering max below the desired capacity is journaled as a decision.
func TestReloadLoweringMaxIsJournaled(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10), Options{})
	h.push("web", 80)
	h.tick(0)
	if dec, _ := h.last("web"); dec.Desired < 5 {
		t.Fatalf("desired %d; want it scaled out first", dec.Desired)
	}
	before, _ := h.last("web")
	h.write(configYAML(h.dir, groupYAML("web", 3)))
	h.reload()
	g, _ := h.d.Group("web")
	if g.Desired != 3 {
		t.Fatalf("desired %d after max 3", g.Desired)
	}
	a, err := h.d.Activities("web", 1)
	if err != nil || len(a.Decisions) != 1 {
		t.Fatalf("activities: %v, %+v", err, a)
	}
	text := string(a.Decisions[0].Decision)
	want := fmt.Sprintf("capacity.max is now 3: desired %d → 3", before.Desired)
	if !strings.Contains(text, want) {
		t.Fatalf("journal's newest entry %s; want %q", text, want)
	}
}

func TestReadyReportsAStuckLoop(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10), Options{})
	if err := h.d.Ready(); err == nil || !strings.Contains(err.Error(), "no decision made yet") {
		t.Fatalf("before the first tick: %v", err)
	}
	h.tick(0)
	if err := h.d.Ready(); err != nil {
		t.Fatalf("after a tick: %v", err)
	}
	h.clock.Advance(stuckAfter + time.Second)
	if err := h.d.Ready(); err == nil || !strings.Contains(err.Error(), "the decision loop is stuck: its last tick ended 31s ago") {
		t.Fatalf("after %s without a tick: %v", stuckAfter, err)
	}
}

// /metrics carries the Go runtime and process metrics, and each group's
// state: desired, failing and missing signals, conditions, decisions.
func TestMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	broken := fmt.Sprintf(`
  - name: broken
    capacity: {min: 2, max: 10}
    interval: 10s
    signals:
      queue: {http_json: {url: %q, path: queued}}
    policies:
      - queue: {signal: queue, per_instance: 10}
`, srv.URL)
	h := newHarness(t, groupYAML("web", 10)+broken, Options{})
	h.push("web", 35)
	h.tick(0)
	h.d.mu.Lock()
	r := h.d.reads["broken"]
	h.d.mu.Unlock()
	if r != nil { // nil: the refused read ended within the tick and was used
		r.wait()
	}
	h.tick(time.Second)

	reg := h.d.metrics.reg
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	want := `
# HELP ebb_group_desired_capacity The capacity the engine decided.
# TYPE ebb_group_desired_capacity gauge
ebb_group_desired_capacity{group="broken"} 2
ebb_group_desired_capacity{group="web"} 4
# HELP ebb_signal_failing 1 while the signal's latest read failed.
# TYPE ebb_signal_failing gauge
ebb_signal_failing{group="broken",signal="queue"} 1
# HELP ebb_signal_missing 1 when the group's last decision found the signal missing or stale.
# TYPE ebb_signal_missing gauge
ebb_signal_missing{group="broken",signal="queue"} 1
ebb_signal_missing{group="web",signal="queue"} 0
# HELP ebb_signal_read_errors_total Signal reads that failed after their retries, by group and signal.
# TYPE ebb_signal_read_errors_total counter
ebb_signal_read_errors_total{group="broken",signal="queue"} 1
# HELP ebb_group_conditions Conditions the group shows in ebb status (stale or failing signals, stalled reads, a guard holding scale-out, failing launches or drains).
# TYPE ebb_group_conditions gauge
ebb_group_conditions{group="broken"} 1
ebb_group_conditions{group="web"} 0
# HELP ebb_decisions_total Decisions made, by group and direction (up, down, hold).
# TYPE ebb_decisions_total counter
ebb_decisions_total{direction="hold",group="broken"} 1
ebb_decisions_total{direction="up",group="web"} 1
`
	names := []string{"ebb_group_desired_capacity", "ebb_signal_failing", "ebb_signal_missing",
		"ebb_signal_read_errors_total", "ebb_group_conditions", "ebb_decisions_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "ebb_tick_duration_seconds",
		"ebb_source_read_duration_seconds", "ebb_last_tick_timestamp_seconds", "ebb_group_stalled"} {
		if !seen[name] {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// Every ebb metric is documented in docs/api.md.
func TestMetricsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, groupYAML("web", 10), Options{})
	h.tick(0)
	h.d.metrics.provider("local").ProviderCall("launch", time.Second, nil)
	h.d.metrics.provider("local").ProviderCall("launch", time.Second, errors.New("refused"))
	h.d.metrics.provider("local").DrainEnded(time.Minute, "drained")
	h.d.metrics.sourceRead("scrape", time.Millisecond, nil)
	fams, err := h.d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "ebb_") {
			continue
		}
		n++
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/api.md does not list %s", name)
		}
	}
	if n < 10 {
		t.Fatalf("only %d ebb metrics gathered", n)
	}
}

// A group that holds tick after tick adds one journal entry, not one per
// tick: repeats are coalesced into it with a count and the time of the
// latest; a decision that changes something gets an entry of its own, and
// the holds at its outcome are coalesced into it.
func TestRepeatedHoldsAreCoalesced(t *testing.T) {
	h := newHarness(t, groupYAML("web", 10), Options{})
	for range 50 {
		h.push("web", 5)
		h.tick(10 * time.Second)
	}
	a, err := h.d.Activities("web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Decisions) != 1 || a.Decisions[0].Repeats != 49 || !a.Decisions[0].Last.Equal(h.clock.Now()) {
		t.Fatalf("journal after 50 holds: %d entries, newest %+v; want 1 with 49 repeats, last now", len(a.Decisions), a.Decisions[0])
	}
	for range 3 {
		h.push("web", 45)
		h.tick(10 * time.Second)
	}
	a, _ = h.d.Activities("web", 0)
	if len(a.Decisions) != 2 {
		t.Fatalf("%d entries after a scale-out and two holds; want 2", len(a.Decisions))
	}
	up := a.Decisions[0]
	if !strings.Contains(string(up.Decision), `"direction":"up"`) || up.Repeats != 2 || !up.Last.Equal(h.clock.Now()) {
		t.Fatalf("newest entry: %+v; want the scale-out, held twice since", up)
	}
	// Missing input is a change worth an entry, even as a hold.
	h.tick(2 * time.Minute)
	a, _ = h.d.Activities("web", 0)
	if len(a.Decisions) != 3 || !strings.Contains(string(a.Decisions[0].Decision), `"missing":true`) {
		t.Fatalf("after the signal went stale: %d entries, newest %s", len(a.Decisions), a.Decisions[0].Decision)
	}
}

// The API answers while a tick's decisions are being written: the writes
// run without the daemon's lock.
func TestAPIAnswersWhileATickWrites(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := newHarness(t, groupYAML("web", 10), Options{writing: func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}})
	h.push("web", 35)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.d.decide(h.ctx)
	}()
	<-entered
	// The tick is stuck in its writes; reads and pushes still answer.
	g, err := h.d.Group("web")
	if err != nil || g.Desired != 4 {
		t.Fatalf("group while the tick writes: %+v, %v", g, err)
	}
	if _, err := h.d.Explain("web"); err != nil {
		t.Fatalf("explain while the tick writes: %v", err)
	}
	h.push("web", 36)
	close(release)
	<-done
}
