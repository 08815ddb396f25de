package fleet

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Status.Wake, for a capacity provider, is when the reconciler next has
// something of its own to do: now after a reconcile that acted, a
// launch's timeout while the system boots it, the next drain check while
// an instance drains, and nothing once settled. Between those times, with
// the same desired count and the same system, a reconcile changes
// nothing: the test reconciles at every second in between and checks
// that none writes.
func TestCapacityWake(t *testing.T) {
	var busy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"busy": %v}`, busy.Load())
	}))
	defer srv.Close()
	sys := newSystem()
	h := newCapacityHarness(t, fmt.Sprintf(`name: web
capacity: {max: 10}
policies: [{fixed: {desired: 1}}]
lifecycle:
  launch: {timeout: 2m}
  drain: {busy: {http: "%s/", path: busy}, heartbeat: 10s}`, srv.URL), sys)

	// idleUntil reconciles every second up to until, checking that each
	// reconcile writes nothing and answers the same Wake.
	idleUntil := func(desired int, until, wake time.Time) {
		t.Helper()
		for h.clock.Now().Add(time.Second).Before(until) {
			h.clock.Advance(time.Second)
			w := h.st.Writes()
			if s := h.reconcile(desired); !s.Wake.Equal(wake) {
				t.Fatalf("at %s: Wake %s, want %s", h.clock.Now().Format(time.TimeOnly), s.Wake, wake)
			}
			if h.st.Writes() != w {
				t.Fatalf("at %s, before Wake %s: a reconcile wrote", h.clock.Now().Format(time.TimeOnly), wake)
			}
		}
		h.clock.Advance(until.Sub(h.clock.Now()))
	}

	if s := h.reconcile(2); !s.Wake.Equal(h.clock.Now()) {
		t.Fatalf("a reconcile that set the count: Wake %s, want now", s.Wake)
	}
	if s := h.reconcile(2); !s.Wake.IsZero() {
		t.Fatalf("waiting for the system to start instances: Wake %s, want none", s.Wake)
	}
	launched := h.clock.Now()
	sys.Edit(func(_ *int, insts *[]provider.Instance) { // the system starts two, booting
		for _, id := range []string{"i-1", "i-2"} {
			*insts = append(*insts, provider.Instance{ID: id, Addr: "127.0.0.1:1", LaunchedAt: launched})
		}
	})
	if s := h.reconcile(2); s.Launching != 2 || !s.Wake.Equal(h.clock.Now()) {
		t.Fatalf("booting, just recorded: %+v; want 2 launching, Wake now (it wrote)", s)
	}
	s := h.reconcile(2)
	if want := launched.Add(2*time.Minute + 1); !s.Wake.Equal(want) {
		t.Fatalf("booting: Wake %s, want the launch timeout %s", s.Wake, want)
	}
	idleUntil(2, s.Wake.Add(-time.Minute), s.Wake) // to a minute before the timeout
	sys.Edit(func(_ *int, insts *[]provider.Instance) {
		for i := range *insts {
			(*insts)[i].Ready = true
		}
	})
	if s := h.reconcile(2); s.InService != 2 || !s.Wake.Equal(h.clock.Now()) {
		t.Fatalf("ready: %+v; want 2 in service, Wake now (it wrote)", s)
	}
	if s := h.reconcile(2); !s.Settled || !s.Wake.IsZero() {
		t.Fatalf("settled: %+v; want no Wake", s)
	}

	busy.Store(true)
	h.reconcile(1) // a victim drains
	var victim model.Instance
	for _, in := range h.instances() {
		if in.State == model.Draining {
			victim = in
		}
	}
	if victim.ID == "" {
		t.Fatalf("no victim draining: %+v", h.instances())
	}
	s = h.reconcile(1) // first check: busy (it records the heartbeat: a write)
	s = h.reconcile(1)
	if want := h.clock.Now().Add(10 * time.Second); !s.Wake.Equal(want) {
		t.Fatalf("draining: Wake %s, want the next check %s", s.Wake, want)
	}
	idleUntil(1, s.Wake, s.Wake)
	busy.Store(false)
	h.reconcile(1) // the check finds it idle and removes it
	if in := find(h.instances(), victim.ID); in.State != model.Terminated {
		t.Fatalf("victim after its check found it idle: %+v", in)
	}
	h.reconcile(1)
	if s := h.reconcile(1); !s.Settled || !s.Wake.IsZero() {
		t.Fatalf("after the drain: %+v; want settled, no Wake", s)
	}
}
