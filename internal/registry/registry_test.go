package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func inst(app, id string) Instance {
	return Instance{
		InstanceID: id, HostName: id + ".local", App: app, IPAddr: "10.0.0.1",
		Status: StatusUp, Port: Port{Number: 8080, Enabled: true},
		VIPAddress:     strings.ToLower(app),
		DataCenterInfo: DataCenterInfo{Name: DataCenterMyOwn},
	}
}

func newRegistry(t *testing.T, cfg Config) *Registry {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustRegister(t *testing.T, r *Registry, now time.Time, in Instance) Instance {
	t.Helper()
	got, err := r.Register(now, in.App, in)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// registerFleet registers n instances of app W at t0, named w00, w01, …
func registerFleet(t *testing.T, r *Registry, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("w%02d", i)
		mustRegister(t, r, t0, inst("W", ids[i]))
	}
	return ids
}

// heartbeat renews ids every 30 s from t0+30s up to and including until.
func heartbeat(t *testing.T, r *Registry, ids []string, from, until time.Duration) {
	t.Helper()
	for d := from; d <= until; d += 30 * time.Second {
		for _, id := range ids {
			if err := r.Renew(at(d), RenewRequest{App: "W", ID: id}); err != nil {
				t.Fatalf("renew %s at %v: %v", id, d, err)
			}
		}
	}
}

func ids(ins []Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.ID())
	}
	return out
}

func TestRegisterRenewCancel(t *testing.T) {
	r := newRegistry(t, Config{})
	got := mustRegister(t, r, t0, inst("orders", "o1"))
	if got.App != "ORDERS" || got.Status != StatusUp || got.OverriddenStatus != StatusUnknown || got.ActionType != ActionAdded {
		t.Fatalf("registered %+v", got)
	}
	wantLease := LeaseInfo{RenewalIntervalInSecs: 30, DurationInSecs: 90, RegistrationTimestamp: t0.UnixMilli(),
		LastRenewalTimestamp: t0.UnixMilli(), ServiceUpTimestamp: t0.UnixMilli()}
	if diff := cmp.Diff(wantLease, got.LeaseInfo); diff != "" {
		t.Fatalf("lease (-want +got):\n%s", diff)
	}
	if err := r.Renew(at(30*time.Second), RenewRequest{App: "Orders", ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	in, err := r.Instance("orders", "o1")
	if err != nil || in.LeaseInfo.LastRenewalTimestamp != at(30*time.Second).UnixMilli() {
		t.Fatalf("after renew: %+v, %v", in.LeaseInfo, err)
	}
	if err := r.Renew(t0, RenewRequest{App: "ORDERS", ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renew of an unknown instance = %v, want ErrNotFound", err)
	}
	if err := r.Cancel(at(40*time.Second), "orders", "o1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Application("ORDERS"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("app after its last instance cancelled: %v", err)
	}
	if err := r.Cancel(at(41*time.Second), "orders", "o1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second cancel = %v, want ErrNotFound", err)
	}
	if err := r.Renew(at(45*time.Second), RenewRequest{App: "ORDERS", ID: "o1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renew after cancel = %v, want ErrNotFound (the client registers again)", err)
	}
}

func TestRegisterRefusesBadInstancesWholly(t *testing.T) {
	r := newRegistry(t, Config{})
	bad := Instance{App: "other", Status: "RUNNING", Port: Port{Number: 70000},
		Metadata: map[string]string{"1bad key": "x"}, LeaseInfo: LeaseInfo{DurationInSecs: -1}}
	_, err := r.Register(t0, "orders", bad)
	if err == nil {
		t.Fatal("registered an invalid instance")
	}
	for _, want := range []string{"instance.app", "instance.instanceId", "instance.hostName", "instance.ipAddr",
		"instance.dataCenterInfo.name", "instance.port", "durationInSecs", "instance.metadata"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	in := inst("orders", "o1")
	in.Status = "RUNNING"
	if _, err := r.Register(t0, "orders", in); err == nil || !strings.Contains(err.Error(), `"RUNNING"`) {
		t.Fatalf("bad status: %v", err)
	}
	if got := r.Applications(); len(got.Apps) != 0 || got.VersionsDelta != 0 {
		t.Fatalf("a refused registration changed the registry: %+v", got)
	}
}

func TestLeaseExpiresAfterItsDuration(t *testing.T) {
	r := newRegistry(t, Config{})
	fleet := registerFleet(t, r, 10)
	heartbeat(t, r, fleet[1:], 30*time.Second, 90*time.Second) // w00 never renews
	if rep := r.Evict(at(90 * time.Second)); rep.Expired != 0 || len(rep.Evicted) != 0 {
		t.Fatalf("evicted at exactly 90 s: %+v", rep)
	}
	rep := r.Evict(at(91 * time.Second))
	if rep.SelfPreservation.Active || rep.Expired != 1 || rep.Limit != 2 {
		t.Fatalf("pass at 91 s: %+v", rep)
	}
	if diff := cmp.Diff([]string{"w00"}, ids(rep.Evicted)); diff != "" {
		t.Fatalf("evicted (-want +got):\n%s", diff)
	}
	if rep.Evicted[0].ActionType != ActionDeleted || rep.Evicted[0].LeaseInfo.EvictionTimestamp != at(91*time.Second).UnixMilli() {
		t.Fatalf("evicted instance as reported: %+v", rep.Evicted[0])
	}
	if _, err := r.Instance("W", "w00"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("w00 still registered: %v", err)
	}
	// A per-instance lease duration wins over the default.
	short := inst("W", "short")
	short.LeaseInfo.DurationInSecs = 10
	mustRegister(t, r, at(91*time.Second), short)
	if rep := r.Evict(at(102 * time.Second)); diff(t, []string{"short"}, ids(rep.Evicted)) {
		t.Fatalf("pass at 102 s: %+v", rep)
	}
}

func diff(t *testing.T, want, got []string) bool {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
		return true
	}
	return false
}

func TestSelfPreservationKeepsPartitionedInstances(t *testing.T) {
	r := newRegistry(t, Config{})
	fleet := registerFleet(t, r, 10)
	// 90% stop renewing at once, as behind a network partition.
	heartbeat(t, r, fleet[:1], 30*time.Second, 60*time.Second)
	for _, d := range []time.Duration{120, 180, 240, 300} {
		heartbeat(t, r, fleet[:1], (d-30)*time.Second, d*time.Second)
		rep := r.Evict(at(d * time.Second))
		sp := rep.SelfPreservation
		if !sp.Active || len(rep.Evicted) != 0 || rep.Expired != 9 {
			t.Fatalf("pass at %ds: %+v", d, rep)
		}
		if sp.ExpectedRenewsPerMin != 20 || sp.ThresholdRenewsPerMin != 17 || sp.RenewsLastMin != 2 {
			t.Fatalf("self-preservation figures at %ds: %+v", d, sp)
		}
	}
	// The partition heals: every instance renews again, and the guard lifts.
	heartbeat(t, r, fleet, 330*time.Second, 360*time.Second)
	if sp := r.SelfPreservation(at(360 * time.Second)); sp.Active || sp.RenewsLastMin != 20 {
		t.Fatalf("after recovery: %+v", sp)
	}
	// Now one instance really dies: it is evicted once its lease expires.
	heartbeat(t, r, fleet[1:], 390*time.Second, 480*time.Second)
	rep := r.Evict(at(480 * time.Second))
	if diff(t, []string{"w00"}, ids(rep.Evicted)) {
		t.Fatalf("pass at 480s: %+v", rep)
	}
}

func TestEvictionWithoutSelfPreservationIsLimitedPerPass(t *testing.T) {
	r := newRegistry(t, Config{DisableSelfPreservation: true})
	fleet := registerFleet(t, r, 10)
	heartbeat(t, r, fleet[:1], 30*time.Second, 60*time.Second)
	// Each pass may take the registry down to 85% of its size, rounded up:
	// 10 → 8 → 6 → 5 → 4 → 3 → 2 → 1.
	var sizes []int
	for d := 120 * time.Second; d <= 540*time.Second; d += 60 * time.Second {
		heartbeat(t, r, fleet[:1], d-30*time.Second, d)
		rep := r.Evict(at(d))
		if rep.SelfPreservation.Enabled || rep.SelfPreservation.Active {
			t.Fatalf("self-preservation disabled, yet: %+v", rep.SelfPreservation)
		}
		sizes = append(sizes, rep.SelfPreservation.Instances-len(rep.Evicted))
	}
	if d := cmp.Diff([]int{8, 6, 5, 4, 3, 2, 1, 1}, sizes); d != "" {
		t.Fatalf("registry sizes after each pass (-want +got):\n%s", d)
	}
	if _, err := r.Instance("W", "w00"); err != nil {
		t.Fatalf("the renewing instance was evicted: %v", err)
	}
}

func TestOverrideSurvivesReregistration(t *testing.T) {
	r := newRegistry(t, Config{})
	mustRegister(t, r, t0, inst("W", "a"))
	if err := r.SetStatusOverride(at(time.Second), StatusRequest{App: "w", ID: "a", Status: StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	got := mustRegister(t, r, at(2*time.Second), inst("W", "a")) // the client restarts and registers as UP
	if got.Status != StatusOutOfService || got.OverriddenStatus != StatusOutOfService {
		t.Fatalf("re-registered as %s (override %s), want OUT_OF_SERVICE", got.Status, got.OverriddenStatus)
	}
	if err := r.Renew(at(30*time.Second), RenewRequest{App: "W", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	// An instance reporting DOWN stays DOWN whatever the override.
	down := inst("W", "a")
	down.Status = StatusDown
	if got := mustRegister(t, r, at(31*time.Second), down); got.Status != StatusDown || got.OverriddenStatus != StatusOutOfService {
		t.Fatalf("DOWN registrant: %s (override %s)", got.Status, got.OverriddenStatus)
	}
	mustRegister(t, r, at(32*time.Second), inst("W", "a"))
	// Removing the override without a status leaves UNKNOWN: the next renewal
	// asks the client to register, and its own status counts again.
	if err := r.DeleteStatusOverride(at(40*time.Second), StatusRequest{App: "W", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Renew(at(60*time.Second), RenewRequest{App: "W", ID: "a"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renew after the override was removed = %v, want ErrNotFound", err)
	}
	if got := mustRegister(t, r, at(61*time.Second), inst("W", "a")); got.Status != StatusUp || got.OverriddenStatus != StatusUnknown {
		t.Fatalf("after re-registering: %s (override %s)", got.Status, got.OverriddenStatus)
	}
	// Removing it with a value sets that status at once.
	if err := r.SetStatusOverride(at(62*time.Second), StatusRequest{App: "W", ID: "a", Status: StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteStatusOverride(at(63*time.Second), StatusRequest{App: "W", ID: "a", Status: StatusUp}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Instance("W", "a"); got.Status != StatusUp || got.OverriddenStatus != StatusUnknown {
		t.Fatalf("after DELETE status?value=UP: %s (override %s)", got.Status, got.OverriddenStatus)
	}
	if err := r.SetStatusOverride(t0, StatusRequest{App: "W", ID: "a", Status: "BUSY"}); err == nil {
		t.Fatal("accepted status BUSY")
	}
	if err := r.SetStatusOverride(t0, StatusRequest{App: "W", ID: "zz", Status: StatusUp}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("override of an unknown instance = %v", err)
	}
}

func TestRenewWithANewerClientAsksForRegistration(t *testing.T) {
	r := newRegistry(t, Config{})
	in := inst("W", "a")
	in.LastDirtyTimestamp = 1000
	mustRegister(t, r, t0, in)
	if err := r.Renew(at(30*time.Second), RenewRequest{App: "W", ID: "a", LastDirtyTimestamp: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := r.Renew(at(60*time.Second), RenewRequest{App: "W", ID: "a", LastDirtyTimestamp: 900}); err != nil {
		t.Fatalf("older client info: %v", err)
	}
	if err := r.Renew(at(90*time.Second), RenewRequest{App: "W", ID: "a", LastDirtyTimestamp: 2000}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("newer client info = %v, want ErrNotFound", err)
	}
	// A registration older than the held one keeps the held info.
	stale := inst("W", "a")
	stale.LastDirtyTimestamp, stale.IPAddr = 500, "10.9.9.9"
	if got := mustRegister(t, r, at(91*time.Second), stale); got.IPAddr != "10.0.0.1" {
		t.Fatalf("a stale registration replaced the info: %+v", got)
	}
}

func TestDeltaAndHashCode(t *testing.T) {
	r := newRegistry(t, Config{})
	for _, id := range []string{"a", "b", "c", "d"} {
		mustRegister(t, r, t0, inst("W", id))
	}
	mustRegister(t, r, t0, inst("api", "x"))
	if err := r.SetStatusOverride(at(10*time.Second), StatusRequest{App: "W", ID: "b", Status: StatusOutOfService}); err != nil {
		t.Fatal(err)
	}
	if err := r.Cancel(at(20*time.Second), "W", "c"); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateMetadata(at(25*time.Second), "W", "d", map[string]string{"zone": "a"}); err != nil {
		t.Fatal(err)
	}
	if got := r.HashCode(); got != "OUT_OF_SERVICE_1_UP_3_" {
		t.Fatalf("hash code = %q", got)
	}
	type row struct {
		App, ID string
		Action  ActionType
		Status  Status
	}
	flatten := func(apps Applications) []row {
		var out []row
		for _, a := range apps.Apps {
			for _, in := range a.Instances {
				out = append(out, row{a.Name, in.ID(), in.ActionType, in.Status})
			}
		}
		return out
	}
	delta := r.Delta(at(60 * time.Second))
	want := []row{
		{"API", "x", ActionAdded, StatusUp},
		{"W", "a", ActionAdded, StatusUp},
		{"W", "b", ActionModified, StatusOutOfService},
		{"W", "c", ActionDeleted, StatusUp},
		{"W", "d", ActionModified, StatusUp},
	}
	if d := cmp.Diff(want, flatten(delta)); d != "" {
		t.Fatalf("delta (-want +got):\n%s", d)
	}
	if delta.AppsHashCode != "OUT_OF_SERVICE_1_UP_3_" || delta.VersionsDelta != 8 {
		t.Fatalf("delta hash %q, version %d", delta.AppsHashCode, delta.VersionsDelta)
	}
	// Renewals are not changes; changes leave the delta after 180 s.
	heartbeat(t, r, []string{"a"}, 30*time.Second, 200*time.Second)
	if d := cmp.Diff([]row{{"W", "b", ActionModified, StatusOutOfService}, {"W", "c", ActionDeleted, StatusUp},
		{"W", "d", ActionModified, StatusUp}}, flatten(r.Delta(at(181*time.Second)))); d != "" {
		t.Fatalf("delta at 181 s (-want +got):\n%s", d)
	}
	if got := r.Delta(at(206 * time.Second)); len(got.Apps) != 0 || got.AppsHashCode != "OUT_OF_SERVICE_1_UP_3_" {
		t.Fatalf("delta at 206 s: %+v", got)
	}
	full := r.Applications()
	if d := cmp.Diff([]row{{"API", "x", ActionAdded, StatusUp}, {"W", "a", ActionAdded, StatusUp},
		{"W", "b", ActionModified, StatusOutOfService}, {"W", "d", ActionModified, StatusUp}}, flatten(full)); d != "" {
		t.Fatalf("full registry (-want +got):\n%s", d)
	}
	if got, _ := r.Instance("W", "d"); got.Metadata["zone"] != "a" {
		t.Fatalf("metadata: %v", got.Metadata)
	}
	if got := (&Registry{apps: map[string]map[string]*lease{}}).HashCode(); got != "" {
		t.Fatalf("empty registry hash = %q", got)
	}
}

func TestInstanceLookups(t *testing.T) {
	r := newRegistry(t, Config{})
	a := inst("W", "a")
	a.SecureVIPAddress = "w-secure"
	mustRegister(t, r, t0, a)
	mustRegister(t, r, t0, inst("api", "x"))
	if in, err := r.InstanceByID("x"); err != nil || in.App != "API" {
		t.Fatalf("by id: %+v %v", in, err)
	}
	if _, err := r.InstanceByID("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if got := r.VIP("w", false); len(got.Apps) != 1 || got.Apps[0].Name != "W" {
		t.Fatalf("vip w: %+v", got)
	}
	if got := r.VIP("w-secure", true); len(got.Apps) != 1 {
		t.Fatalf("svip: %+v", got)
	}
	if got := r.VIP("none", false); len(got.Apps) != 0 {
		t.Fatalf("unknown vip: %+v", got)
	}
}

func TestRunEvictionsStepsTheClock(t *testing.T) {
	r := newRegistry(t, Config{})
	mustRegister(t, r, t0, inst("W", "a"))
	fake := clock.NewFake(t0)
	slept := fake.Notify(1)
	reports := make(chan EvictionReport, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.RunEvictions(ctx, fake, func(rep EvictionReport) { reports <- rep }) }()
	for pass := 1; pass <= 2; pass++ {
		if d := <-slept; d != DefaultEvictionInterval {
			t.Fatalf("slept %v, want 60s", d)
		}
		fake.Advance(DefaultEvictionInterval)
		rep := <-reports
		// A lone silent instance stays: 0 renewals is below the threshold.
		if rep.Expired != pass-1 || len(rep.Evicted) != 0 || !rep.SelfPreservation.Active {
			t.Fatalf("pass %d: %+v", pass, rep)
		}
	}
	<-slept
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunEvictions returned %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{LeaseDuration: -time.Second, RenewalInterval: 2 * time.Minute, RenewalPercentThreshold: 1.5}.Validate()
	for _, want := range []string{"lease_duration", "renewal_interval", "renewal_percent_threshold"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if _, err := New(Config{DeltaRetention: time.Millisecond}); err == nil {
		t.Fatal("New accepted a 1ms delta retention")
	}
}

// TestConcurrentUse runs writers and readers at once under the race
// detector: the registry's lock covers every path.
func TestConcurrentUse(t *testing.T) {
	r := newRegistry(t, Config{DisableSelfPreservation: true})
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				id := fmt.Sprintf("w%d-%d", w, i%5)
				now := at(time.Duration(i) * time.Second)
				if _, err := r.Register(now, "W", inst("W", id)); err != nil {
					t.Error(err)
					return
				}
				_ = r.Renew(now, RenewRequest{App: "W", ID: id})
				_ = r.SetStatusOverride(now, StatusRequest{App: "W", ID: id, Status: StatusOutOfService})
				_ = r.UpdateMetadata(now, "W", id, map[string]string{"i": fmt.Sprint(i)})
				if i%7 == 0 {
					_ = r.Cancel(now, "W", id)
				}
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for i := 0; i < 50; i++ {
			now := at(time.Duration(i) * 3 * time.Second)
			r.Evict(now)
			r.Applications()
			r.Delta(now)
			r.HashCode()
			r.SelfPreservation(now)
		}
	}()
	for i := 0; i < 5; i++ {
		<-done
	}
	apps := r.Applications()
	n := 0
	for _, a := range apps.Apps {
		n += len(a.Instances)
	}
	if n > 20 {
		t.Fatalf("%d instances from 4 writers of 5 ids each", n)
	}
}
