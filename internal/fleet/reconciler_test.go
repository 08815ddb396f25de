package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// readyServer answers the readiness probe with 200 once ready is set, 503
// before; and the busy probe with {"busy": …}.
type readyServer struct {
	ready atomic.Bool
	busy  atomic.Bool
	srv   *httptest.Server
}

func newReadyServer(t *testing.T) *readyServer {
	rs := &readyServer{}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready":
			if !rs.ready.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case "/busy":
			json.NewEncoder(w).Encode(map[string]bool{"busy": rs.busy.Load()})
		}
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

const base = `
name: w
capacity: {max: 100}
policies: [{fixed: {desired: 1}}]
`

func TestLaunchBatchesNeverExceedMaxConcurrent(t *testing.T) {
	rs := newReadyServer(t)
	h := newHarness(t, base+`
lifecycle:
  launch: {max_concurrent: 10, ready: {http: "`+rs.srv.URL+`/ready"}, timeout: 10m}
`)
	for tick := 0; tick < 5; tick++ {
		s := h.reconcile(25)
		if s.Launching != 10 || s.InService != 0 {
			t.Fatalf("tick %d: %+v; want 10 launching, none in service", tick, s)
		}
		h.clock.Advance(15 * time.Second)
	}
	if got := len(h.prov.launched); got != 10 {
		t.Fatalf("%d launches while 10 were pending, want 10", got)
	}
	rs.ready.Store(true)
	s := h.reconcile(25) // the 10 become ready; 10 more go out
	if s.InService != 10 || s.Launching != 10 {
		t.Fatalf("%+v; want 10 in service, 10 launching", s)
	}
	s = h.reconcile(25)
	if s.InService != 20 || s.Launching != 5 {
		t.Fatalf("%+v; want 20 in service, 5 launching", s)
	}
}

// A launch that never becomes ready fails after its timeout, is stopped,
// and is retried with exponential backoff: a bounded number of launches,
// never a storm, and a condition on the group.
func TestFailingLaunchBacksOff(t *testing.T) {
	rs := newReadyServer(t) // never ready
	h := newHarness(t, base+`
lifecycle:
  launch: {max_concurrent: 10, ready: {http: "`+rs.srv.URL+`/ready"}, timeout: 30s, backoff: {initial: 5s, max: 2m}}
`)
	var starts []time.Time
	seen := 0
	var s Status
	for tick := 0; tick < 240; tick++ { // 1 hour at 15 s
		s = h.reconcile(1)
		for ; seen < len(h.prov.launched); seen++ {
			starts = append(starts, h.clock.Now())
		}
		h.clock.Advance(15 * time.Second)
	}
	// Timeout 30 s, then backoff up to 2 min (jittered 50–100%): at most one
	// launch per 45 s at first, one per ~1.5–2.5 min once capped.
	if len(starts) < 15 || len(starts) > 45 {
		t.Fatalf("%d launches in an hour, want a bounded, backed-off number", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 30*time.Second {
			t.Fatalf("launches %d and %d only %v apart", i-1, i, gap)
		}
	}
	if len(s.Conditions) == 0 || !strings.Contains(s.Conditions[0], "launches failed in a row") {
		t.Fatalf("no condition on the group: %+v", s)
	}
	for id, n := range h.prov.kills {
		if n != 1 {
			t.Fatalf("%s terminated %d times", id, n)
		}
	}
	if alive := countAlive(h.prov); alive > 1 {
		t.Fatalf("%d failed launches left running", alive)
	}
}

func countAlive(f *fakeProvider) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.alive {
		if a {
			n++
		}
	}
	return n
}

// Scale-in drains the oldest instance: it is signalled, waited for while
// busy (heartbeated), terminated once idle; a protected instance is never
// picked.
func TestScaleInDrainsOldestAndWaitsWhileBusy(t *testing.T) {
	rs := newReadyServer(t)
	rs.busy.Store(true)
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1, busy: {http: "`+rs.srv.URL+`/busy", path: busy}, heartbeat: 10s, timeout: 1h}
`)
	h.reconcile(3)
	h.clock.Advance(time.Second)
	h.reconcile(3) // all in service
	if h.count(model.InService) != 3 {
		t.Fatalf("in service: %d", h.count(model.InService))
	}
	h.reconcile(2)
	var victim model.Instance
	for _, in := range h.instances() {
		if in.State == model.Draining {
			victim = in
		}
	}
	if victim.ID == "" || victim.Reason != "scale-in: oldest" {
		t.Fatalf("no instance draining for scale-in: %+v", h.instances())
	}
	if got := h.prov.signals[victim.ID]; len(got) != 1 || got[0] != syscall.SIGUSR1 {
		t.Fatalf("victim got signals %v, want one SIGUSR1", got)
	}
	for i := 0; i < 10; i++ { // busy: stays draining, heartbeated
		h.clock.Advance(10 * time.Second)
		h.reconcile(2)
	}
	in := find(h.instances(), victim.ID)
	if in.State != model.Draining || !in.HeartbeatAt.After(victim.StateSince) {
		t.Fatalf("busy victim: %+v; want draining with a heartbeat", in)
	}
	if h.prov.kills[victim.ID] != 0 {
		t.Fatal("a busy instance was terminated")
	}
	rs.busy.Store(false)
	h.clock.Advance(10 * time.Second)
	h.reconcile(2)
	if in := find(h.instances(), victim.ID); in.State != model.Terminated || h.prov.kills[victim.ID] != 1 {
		t.Fatalf("idle victim: %+v, kills %d; want terminated once", in, h.prov.kills[victim.ID])
	}
	if n := h.count(model.InService); n != 2 {
		t.Fatalf("in service %d, want 2", n)
	}
}

func find(insts []model.Instance, id string) model.Instance {
	for _, in := range insts {
		if in.ID == id {
			return in
		}
	}
	return model.Instance{}
}

func TestProtectedInstancesAreNeverDrained(t *testing.T) {
	h := newHarness(t, base+`
lifecycle: {protect: true}
`)
	h.reconcile(2)
	h.reconcile(2)
	h.reconcile(0)
	if n := h.count(model.InService); n != 2 {
		t.Fatalf("in service %d, want 2 protected instances kept", n)
	}
}

func TestDrainTimeout(t *testing.T) {
	for _, tt := range []struct {
		onTimeout string
		want      model.InstanceState
	}{
		{onTimeout: "continue", want: model.Terminated},
		{onTimeout: "abandon", want: model.InService},
	} {
		t.Run(tt.onTimeout, func(t *testing.T) {
			h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGTERM, heartbeat: 10s, timeout: 1m, on_timeout: `+tt.onTimeout+`}
`)
			h.reconcile(1)
			h.reconcile(1)
			h.reconcile(0) // no busy probe: busy while alive; the fake ignores SIGTERM
			for i := 0; i < 7; i++ {
				h.clock.Advance(10 * time.Second)
				h.reconcile(0)
			}
			in := h.instances()[0]
			if in.State != tt.want || !strings.Contains(in.Reason, "drain timed out after 1m") || in.Protected != (tt.onTimeout == "abandon") {
				t.Fatalf("%+v; want %s after the drain timeout", in, tt.want)
			}
		})
	}
}

func TestReplacesInstancesThatExit(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(2)
	h.reconcile(2)
	dead := h.prov.launched[0]
	h.prov.kill(dead)
	h.reconcile(2) // noticed, stopped, replaced
	if in := find(h.instances(), dead); in.State != model.Terminated || in.Reason != "process exited" {
		t.Fatalf("dead instance: %+v", in)
	}
	if len(h.prov.launched) != 3 {
		t.Fatalf("%d launches, want a replacement", len(h.prov.launched))
	}
}

// A crash after a launch intent was recorded but before its outcome: the
// restarted reconciler adopts the instance the provider started, and does
// not launch it again.
func TestResumeInterruptedLaunch(t *testing.T) {
	h := newHarness(t, base)
	// What the daemon wrote before dying: the intent and a pending record;
	// the provider did start the process.
	inst := model.Instance{ID: "w-crashed", Group: "w", State: model.Pending, LaunchedAt: t0, StateSince: t0}
	if err := h.st.Update(func(tx *store.Tx) error {
		if _, err := tx.AddIntent(store.Intent{Group: "w", Instance: inst.ID, Kind: store.IntentLaunch, Created: t0}); err != nil {
			return err
		}
		return tx.PutInstance(inst)
	}); err != nil {
		t.Fatal(err)
	}
	h.prov.alive["w-crashed"] = true
	h.restart()
	s := h.reconcile(1)
	if s.InService != 1 || len(h.prov.launched) != 0 {
		t.Fatalf("%+v, launches %v; want the interrupted launch adopted and nothing relaunched", s, h.prov.launched)
	}
	if got := find(h.instances(), "w-crashed"); got.State != model.InService {
		t.Fatalf("adopted instance: %+v", got)
	}
}

// A crash during a terminate: the restart re-issues it, and a live
// instance is still terminated exactly once.
func TestResumeInterruptedTerminateOnce(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(1)
	h.reconcile(1)
	id := h.prov.launched[0]
	inst := find(h.instances(), id)
	inst.State = model.Terminating
	if err := h.st.Update(func(tx *store.Tx) error {
		if _, err := tx.AddIntent(store.Intent{Group: "w", Instance: id, Kind: store.IntentTerminate, Created: t0}); err != nil {
			return err
		}
		return tx.PutInstance(inst)
	}); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.reconcile(0)
	h.restart()
	h.reconcile(0)
	if h.prov.kills[id] != 1 {
		t.Fatalf("terminated %d times, want 1", h.prov.kills[id])
	}
	var open []store.Intent
	h.st.View(func(tx *store.Tx) error { open, _ = tx.OpenIntents("w"); return nil })
	if len(open) != 0 {
		t.Fatalf("open intents left: %+v", open)
	}
}

func TestZonesSpreadAndScaleInFromTheFullest(t *testing.T) {
	h := newHarness(t, base+`
provider: {local: {command: [x], zones: [a, b, c]}}
`)
	h.reconcile(6)
	h.reconcile(6)
	zones := map[string]int{}
	for _, in := range h.instances() {
		zones[in.Zone]++
	}
	if zones["a"] != 2 || zones["b"] != 2 || zones["c"] != 2 {
		t.Fatalf("zones %v, want 2 each", zones)
	}
	// Lose both instances in c: replacements go to c.
	for _, in := range h.instances() {
		if in.Zone == "c" {
			h.prov.kill(in.ID)
		}
	}
	h.reconcile(6)
	h.reconcile(6)
	zones = map[string]int{}
	for _, in := range h.instances() {
		if in.State == model.InService {
			zones[in.Zone]++
		}
	}
	if zones["c"] != 2 {
		t.Fatalf("zones %v, want the replacements in c", zones)
	}
}

// When zones drift apart (here: desired drops while zone a holds the
// newest), a rebalance launches in the emptiest zone first and drains from
// the fullest only once the new instance is ready.
func TestRebalanceLaunchesBeforeItDrains(t *testing.T) {
	rs := newReadyServer(t)
	rs.ready.Store(true)
	h := newHarness(t, base+`
provider: {local: {command: [x], zones: [a, b]}}
lifecycle:
  select: newest
  launch: {ready: {http: "`+rs.srv.URL+`/ready"}}
  drain: {signal: SIGUSR1}
`)
	h.prov.exitOnSignal = true
	h.reconcile(4)
	h.reconcile(4) // a, b, a, b in service
	// Two b instances exit; their replacements (4 desired) go to b again.
	// Instead, shrink to 2 and kill both a's: b has 2, a has 0.
	for _, in := range h.instances() {
		if in.Zone == "a" {
			h.prov.kill(in.ID)
		}
	}
	s := h.reconcile(2) // a's stopped; b has 2 = desired; a is empty
	if s.Launching != 1 || s.Draining != 0 {
		t.Fatalf("%+v; want one rebalancing launch and no drain yet", s)
	}
	var launched model.Instance
	for _, in := range h.instances() {
		if in.State == model.Launching {
			launched = in
		}
	}
	if launched.Zone != "a" || launched.Reason != reasonRebalance {
		t.Fatalf("rebalance launch %+v, want zone a", launched)
	}
	h.reconcile(2) // ready → 3 in service → one drains from b
	h.reconcile(2) // it exited on its drain signal
	zones := map[string]int{}
	for _, in := range h.instances() {
		if in.State == model.InService {
			zones[in.Zone]++
		}
	}
	if zones["a"] != 1 || zones["b"] != 1 {
		t.Fatalf("in service by zone %v, want a:1 b:1", zones)
	}
}

func TestSuspend(t *testing.T) {
	h := newHarness(t, base)
	if err := h.st.Update(func(tx *store.Tx) error {
		return tx.PutGroupState("w", store.GroupState{Suspended: store.Suspended{Launch: true}})
	}); err != nil {
		t.Fatal(err)
	}
	if s := h.reconcile(3); s.Launching != 0 || len(h.prov.launched) != 0 {
		t.Fatalf("launched while launches are suspended: %+v", s)
	}
	// Resumed and suspended again between reconciles, beside the
	// reconciler (as an operator does): each reconcile sees the change.
	for _, launch := range []bool{false, true} {
		before := len(h.prov.launched)
		if err := h.st.Update(func(tx *store.Tx) error {
			return tx.PutGroupState("w", store.GroupState{Suspended: store.Suspended{Launch: launch}})
		}); err != nil {
			t.Fatal(err)
		}
		h.reconcile(3 + before)
		if launched := len(h.prov.launched) > before; launched == launch {
			t.Fatalf("suspended %v: launched %d, had %d", launch, len(h.prov.launched), before)
		}
	}
}

func TestOperatorDrain(t *testing.T) {
	h := newHarness(t, base+`
lifecycle:
  drain: {signal: SIGUSR1}
`)
	h.prov.exitOnSignal = true
	h.reconcile(2)
	h.reconcile(2)
	id := h.prov.launched[0]
	if err := h.r.Drain(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), `no instance "nope"`) {
		t.Fatalf("Drain(nope) = %v", err)
	}
	if err := h.r.Drain(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Drain(context.Background(), id); !errors.Is(err, ErrNotInService) {
		t.Fatalf("second Drain = %v, want ErrNotInService", err)
	}
	h.reconcile(2) // it exited on SIGUSR1; a replacement launches
	if in := find(h.instances(), id); in.State != model.Terminated || in.Reason != "exited after draining" {
		t.Fatalf("drained instance %+v", in)
	}
	if len(h.prov.launched) != 3 {
		t.Fatalf("%d launches, want a replacement", len(h.prov.launched))
	}
}

func TestTerminatedRecordsArePruned(t *testing.T) {
	h := newHarness(t, base)
	h.reconcile(1)
	h.reconcile(1)
	h.prov.kill(h.prov.launched[0])
	h.reconcile(1) // stopped and replaced
	if n := len(h.instances()); n != 2 {
		t.Fatalf("%d records, want the terminated one kept for now", n)
	}
	h.clock.Advance(time.Hour + time.Second)
	h.reconcile(1)
	if n := len(h.instances()); n != 1 {
		t.Fatalf("%d records an hour later, want only the live one", n)
	}
}

// An idle group (one instance in service, desired 1, a passing health
// check, a terminated record not yet due for deletion) costs no store
// write: reconciles read with View, and write only what changes.
func TestIdleReconcileWritesNothing(t *testing.T) {
	rs := newReadyServer(t)
	rs.ready.Store(true)
	h := newHarness(t, base+`
lifecycle:
  health: {check: {http: "`+rs.srv.URL+`/ready"}, grace: 0s}
`)
	h.reconcile(1)
	h.reconcile(1) // in service
	h.prov.kill(h.prov.launched[0])
	h.reconcile(1) // stopped and replaced: one terminated record stays for an hour
	want := Status{Desired: 1, InService: 1, Settled: true}
	if s := h.reconcile(1); s.InService != 1 || s.Launching != 0 {
		t.Fatalf("%+v; want the replacement in service", s)
	}
	before := h.st.Writes()
	for i := range 300 { // 5 minutes at 1 s: past several prune checks
		h.clock.Advance(time.Second)
		want.Wake = h.clock.Now() // a local process is asked at every reconcile
		if s := h.reconcile(1); !cmp.Equal(s, want) {
			t.Fatalf("idle reconcile %d: %+v, want %+v", i, s, want)
		}
	}
	if got := h.st.Writes() - before; got != 0 {
		t.Errorf("%d store writes in 300 idle reconciles, want 0", got)
	}
	// The terminated record's hour passes: one write deletes it.
	h.clock.Advance(time.Hour)
	before = h.st.Writes()
	for range 120 {
		h.clock.Advance(time.Second)
		h.reconcile(1)
	}
	if got := h.st.Writes() - before; got != 1 {
		t.Errorf("%d store writes to delete an expired record, want 1", got)
	}
	if n := len(h.instances()); n != 1 {
		t.Errorf("%d records, want only the live one", n)
	}
}

// A group is settled only when nothing is in flight: launching, a failed
// health check not yet counted out, draining all keep it unsettled.
func TestSettled(t *testing.T) {
	rs := newReadyServer(t)
	rs.ready.Store(true)
	h := newHarness(t, base+`
lifecycle:
  health: {check: {http: "`+rs.srv.URL+`/ready"}, grace: 0s, failures: 3}
  drain: {signal: SIGTERM, busy: {http: "`+rs.srv.URL+`/busy", path: busy}}
`)
	steps := []struct {
		name    string
		before  func()
		desired int
		settled bool
	}{
		{name: "launching", desired: 1},
		{name: "in service", desired: 1, settled: true},
		{name: "a health check failed", before: func() { rs.ready.Store(false) }, desired: 1},
		{name: "it passes again", before: func() { rs.ready.Store(true) }, desired: 1, settled: true},
		{name: "launching a second", desired: 2},
		{name: "two in service", desired: 2, settled: true},
		{name: "draining one", before: func() { rs.busy.Store(true) }, desired: 1},
		{name: "still draining", before: func() { h.clock.Advance(time.Minute) }, desired: 1},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := h.reconcile(s.desired); got.Settled != s.settled {
			t.Fatalf("%s: %+v, want settled %v", s.name, got, s.settled)
		}
	}
}
