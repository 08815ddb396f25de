package registry

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memSaver keeps registrations as a store would, and fails on demand.
type memSaver struct {
	kept  map[Key]Instance
	saves int
	fail  error
}

func (m *memSaver) SaveRegistrations(put []Instance, deleted []Key) error {
	if m.fail != nil {
		return m.fail
	}
	m.saves++
	if m.kept == nil {
		m.kept = map[Key]Instance{}
	}
	for _, in := range put {
		m.kept[Key{in.App, in.ID()}] = clone(in)
	}
	for _, k := range deleted {
		delete(m.kept, k)
	}
	return nil
}

func (m *memSaver) all() []Instance {
	var out []Instance
	for _, in := range m.kept {
		out = append(out, in)
	}
	return out
}

// TestSaveAndLoadKeepWhatClientsSee: what a restarted registry loads from
// its saver is what clients saw before, overrides and registration times
// included, with every lease starting anew at the load.
func TestSaveAndLoadKeepWhatClientsSee(t *testing.T) {
	saver := &memSaver{}
	r := newRegistry(t, Config{})
	r.Persist(saver)
	mustRegister(t, r, t0, inst("W", "a"))
	mustRegister(t, r, t0, inst("W", "b"))
	mustRegister(t, r, t0, inst("X", "c"))
	if err := r.SetStatusOverride(at(10*time.Second), StatusRequest{App: "W", ID: "b", Status: StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateMetadata(at(11*time.Second), "X", "c", map[string]string{"zone": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Cancel(at(12*time.Second), "W", "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	// Renewals are not saved: nothing to write.
	heartbeat(t, r, []string{"b"}, 30*time.Second, 60*time.Second)
	if err := r.Save(); err != nil || saver.saves != 1 {
		t.Fatalf("save after renewals only: err %v, saves %d, want 1", err, saver.saves)
	}
	if len(saver.kept) != 2 {
		t.Fatalf("kept %d registrations, want 2 (a was cancelled)", len(saver.kept))
	}

	restart := at(time.Hour)
	r2 := newRegistry(t, Config{})
	if err := r2.Load(restart, saver.all()); err != nil {
		t.Fatal(err)
	}
	b, err := r2.Instance("W", "b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != StatusOutOfService || b.OverriddenStatus != StatusOutOfService {
		t.Errorf("b after load: status %s override %s, want OUT_OF_SERVICE twice", b.Status, b.OverriddenStatus)
	}
	if b.LeaseInfo.RegistrationTimestamp != t0.UnixMilli() || b.LeaseInfo.ServiceUpTimestamp != t0.UnixMilli() {
		t.Errorf("b's registration %d and service-up %d, want both %d", b.LeaseInfo.RegistrationTimestamp, b.LeaseInfo.ServiceUpTimestamp, t0.UnixMilli())
	}
	if b.LeaseInfo.LastRenewalTimestamp != restart.UnixMilli() {
		t.Errorf("b's lease renewed at %d, want the load time %d", b.LeaseInfo.LastRenewalTimestamp, restart.UnixMilli())
	}
	// The override survives the next registration of the restarted
	// instance, as it did before the restart.
	mustRegister(t, r2, restart.Add(time.Second), inst("W", "b"))
	if got, _ := r2.Instance("W", "b"); got.Status != StatusOutOfService {
		t.Errorf("b re-registered as UP after load shows %s, want OUT_OF_SERVICE", got.Status)
	}
	c, _ := r2.Instance("X", "c")
	if c.Metadata["zone"] != "a" {
		t.Errorf("c's metadata after load: %v", c.Metadata)
	}
	if _, err := r2.Instance("W", "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled a after load: %v, want not found", err)
	}
	// A whole lease from the load: not evicted 89 s later with renewals
	// flowing, evicted once it lapses.
	ls, err := r2.Lease(restart.Add(89*time.Second), "X", "c")
	if err != nil || ls.Expired {
		t.Errorf("c's lease 89 s after load: %+v %v, want current", ls, err)
	}
	if ls, _ := r2.Lease(restart.Add(91*time.Second), "X", "c"); !ls.Expired {
		t.Errorf("c's lease 91 s after load without renewal: %+v, want expired", ls)
	}
}

// TestLoadRecordsTheDifferenceAsDelta: a follower loading the leader's
// registrations again shows clients what changed, as the leader's own
// delta would.
func TestLoadRecordsTheDifferenceAsDelta(t *testing.T) {
	a, b, c := inst("W", "a"), inst("W", "b"), inst("W", "c")
	r := newRegistry(t, Config{})
	if err := r.Load(t0, []Instance{a, b}); err != nil {
		t.Fatal(err)
	}
	b.Status = StatusOutOfService
	b.OverriddenStatus = StatusOutOfService
	later := at(time.Minute)
	if err := r.Load(later, []Instance{b, c}); err != nil {
		t.Fatal(err)
	}
	got := map[string]ActionType{}
	for _, app := range r.Delta(at(200 * time.Second)).Apps { // the first load's changes have aged out
		for _, in := range app.Instances {
			got[in.ID()] = in.ActionType
		}
	}
	want := map[string]ActionType{"a": ActionDeleted, "b": ActionModified, "c": ActionAdded}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("delta after the second load (-want +got):\n%s", d)
	}
	if h := r.HashCode(); h != "OUT_OF_SERVICE_1_UP_1_" {
		t.Errorf("hash code %q", h)
	}
	// Loading the same again changes nothing.
	v := r.Applications().VersionsDelta
	if err := r.Load(at(2*time.Minute), []Instance{b, c}); err != nil {
		t.Fatal(err)
	}
	if v2 := r.Applications().VersionsDelta; v2 != v {
		t.Errorf("an unchanged load moved the version from %d to %d", v, v2)
	}
}

func TestLoadSkipsInvalidRecords(t *testing.T) {
	r := newRegistry(t, Config{})
	bad := inst("W", "x")
	bad.HostName, bad.InstanceID = "", ""
	err := r.Load(t0, []Instance{inst("W", "a"), bad})
	if err == nil {
		t.Fatal("an invalid record loaded without error")
	}
	if _, err := r.Instance("W", "a"); err != nil {
		t.Errorf("the valid record did not load: %v", err)
	}
}

// TestAFailedSaveIsAnsweredAndRetried: a change that could not be saved
// is answered 503 (the client repeats it), and the next save writes it.
func TestAFailedSaveIsAnsweredAndRetried(t *testing.T) {
	s := newServer(t, Config{})
	saver := &memSaver{fail: errors.New("disk full")}
	s.reg.Persist(saver)
	code, body := s.do(t, call{method: "POST", path: "/eureka/apps/orders", contentType: "application/json", body: jsonBody})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("register with a failing saver: %d %s, want 503", code, body)
	}
	saver.fail = nil
	code, _ = s.do(t, call{method: "PUT", path: "/eureka/apps/ORDERS/i-1/status?value=OUT_OF_SERVICE"})
	if code != http.StatusOK {
		t.Fatalf("status override: %d", code)
	}
	got, ok := saver.kept[Key{"ORDERS", "i-1"}]
	if !ok || got.Status != StatusOutOfService {
		t.Fatalf("after the next save the saver holds %+v (found %v), want i-1 OUT_OF_SERVICE", got, ok)
	}
	code, _ = s.do(t, call{method: "DELETE", path: "/eureka/apps/ORDERS/i-1"})
	if code != http.StatusOK || len(saver.kept) != 0 {
		t.Fatalf("cancel: %d, saver holds %d", code, len(saver.kept))
	}
}

func TestLeaseState(t *testing.T) {
	r := newRegistry(t, Config{})
	ids := registerFleet(t, r, 10)
	if _, err := r.Lease(t0, "W", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
	// Nine keep renewing, one stops: it expires, and nine of ten renewing
	// is above 85%.
	heartbeat(t, r, ids[1:], 30*time.Second, 120*time.Second)
	ls, err := r.Lease(at(121*time.Second), "W", ids[0])
	if err != nil || !ls.Expired || ls.SelfPreservation || ls.Status != StatusUp {
		t.Errorf("silent instance: %+v %v, want expired, no self-preservation", ls, err)
	}
	// Then all stop: self-preservation.
	if ls, _ := r.Lease(at(300*time.Second), "W", ids[1]); !ls.Expired || !ls.SelfPreservation {
		t.Errorf("all silent: %+v, want expired under self-preservation", ls)
	}
}
