package aws

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/aws/awstest"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

var servers testserver.Pool

func TestMain(m *testing.M) { servers.Main(m) }

func fake(t *testing.T) *awstest.Server {
	return testserver.Shared(t, &servers, "aws", func() (*awstest.Server, error) { return awstest.New(), nil })
}

// name is a group name of the test's own.
func name(t *testing.T) string { return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) }

// cfg is a config as the decoder leaves it (defaults applied), pointed at
// the fake.
func cfg(t *testing.T, srv *awstest.Server) *Config {
	t.Helper()
	d, err := config.Defaults(new(Config))
	if err != nil {
		t.Fatal(err)
	}
	c := d.(*Config)
	c.Region, c.Endpoint = "us-east-1", srv.URL()
	c.AccessKeyID, c.SecretAccessKey = &config.Secret{Value: "AKIDTEST"}, &config.Secret{Value: "secret"}
	return c
}

// hook is a lifecycle_hook as the decoder leaves it.
func hook(t *testing.T) *Hook {
	t.Helper()
	d, err := config.Defaults(new(Hook))
	if err != nil {
		t.Fatal(err)
	}
	return d.(*Hook)
}

// counter counts a provider's call attempts.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(string) { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *counter) get() int   { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// openP opens c for the test's group on an instant fake clock (backoff and
// rate-limit waits pass at once, moving it).
func openP(t *testing.T, c *Config) (*Provider, *clock.Fake, *counter) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clk.SetInstant(true)
	k := Kind()
	p, err := k.Open(c, provider.Deps{Group: name(t), Clock: clk, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	n := &counter{}
	p.(*Provider).Calls(n.add)
	return p.(*Provider), clk, n
}

func TestConformance(t *testing.T) {
	srv := fake(t)
	g := name(t)
	srv.AddGroup(g, 0, 10)
	capacitytest.Run(t, capacitytest.Harness{
		Open: func(t *testing.T) provider.Capacity {
			p, _, _ := openP(t, cfg(t, srv))
			return p
		},
		Converge: func(*testing.T) { srv.ConvergeGroup(g) },
		External: func(_ *testing.T, n int) { srv.SetDesired(g, n) },
	})
}

// launched makes the test's group with n instances.
func launched(t *testing.T, srv *awstest.Server, n int) []string {
	t.Helper()
	g := name(t)
	srv.AddGroup(g, 0, 200)
	srv.SetDesired(g, n)
	srv.ConvergeGroup(g)
	var ids []string
	for _, in := range srv.Group(g).Instances {
		ids = append(ids, in.ID)
	}
	return ids
}

func TestObserve(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 3)
	srv.TerminateByGroup(name(t), ids[2])
	p, clk, n := openP(t, cfg(t, srv))
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	at := clk.Now()
	want := provider.Observed{Desired: 3, Min: 0, Max: 200, Instances: []provider.Instance{
		{ID: ids[0], Zone: "us-east-1a", Ready: true, LaunchedAt: at},
		{ID: ids[1], Zone: "us-east-1b", Ready: true, LaunchedAt: at},
		{ID: ids[2], Zone: "us-east-1a", Leaving: true, LaunchedAt: at},
	}}
	if d := cmp.Diff(want, obs); d != "" {
		t.Fatalf("observed (-want +got):\n%s", d)
	}
	if n.get() != 1 {
		t.Fatalf("observe made %d calls, want 1", n.get())
	}
}

func TestSetDesiredCapacityCall(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 0)
	p, _, _ := openP(t, cfg(t, srv))
	if err := p.SetDesired(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls("SetDesiredCapacity")
	got := calls[len(calls)-1].Params
	for k, v := range map[string]string{"AutoScalingGroupName": name(t), "DesiredCapacity": "3", "HonorCooldown": "false"} {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q (%v)", k, got.Get(k), v, got)
		}
	}
	// Above the group's max: the API's refusal, not retried.
	if err := p.SetDesired(context.Background(), 500); err == nil || !strings.Contains(err.Error(), "above max") {
		t.Fatalf("set desired above max: err = %v", err)
	}
}

func TestRemoveTerminatesOnlyItsOwnWithDecrement(t *testing.T) {
	srv := fake(t)
	other := name(t) + "-other"
	srv.AddGroup(other, 0, 10)
	srv.SetDesired(other, 1)
	srv.ConvergeGroup(other)
	foreign := srv.Group(other).Instances[0].ID
	ids := launched(t, srv, 3)
	p, _, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls("TerminateInstanceInAutoScalingGroup"))
	err := p.Remove(context.Background(), []provider.Victim{{ID: ids[1]}, {ID: foreign}, {ID: "i-gone"}})
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls("TerminateInstanceInAutoScalingGroup")[before:]
	if len(calls) != 1 {
		t.Fatalf("terminate calls %v, want one for %s", calls, ids[1])
	}
	if got := calls[0].Params; got.Get("InstanceId") != ids[1] || got.Get("ShouldDecrementDesiredCapacity") != "true" {
		t.Fatalf("terminate params %v", got)
	}
	g := srv.Group(name(t))
	if g.Desired != 2 || g.Instances[1].State != "Terminating" {
		t.Fatalf("group after remove: desired %d, %s %s", g.Desired, g.Instances[1].ID, g.Instances[1].State)
	}
	if st := srv.Group(other).Instances[0].State; st != "InService" {
		t.Fatalf("another group's instance is %s", st)
	}
}

func TestRemoveOfAnInstanceGoneMeanwhileIsSuccess(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 2)
	p, _, _ := openP(t, cfg(t, srv))
	ctx := context.Background()
	g := name(t)
	srv.SetDesired(g, 1)
	srv.ConvergeGroup(g) // ids[1] terminating
	srv.ConvergeGroup(g) // gone
	before := len(srv.Calls("TerminateInstanceInAutoScalingGroup"))
	if err := p.Remove(ctx, []provider.Victim{{ID: ids[1]}}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls("TerminateInstanceInAutoScalingGroup")) - before; n != 0 {
		t.Fatalf("%d terminate calls for an instance gone", n)
	}
	if g := srv.Group(g); g.Desired != 1 {
		t.Fatalf("desired %d, want 1 unchanged", g.Desired)
	}
	// Gone between the provider's read and its terminate: the API's
	// answer then is "not found", which is success.
	if !notFound(errorLike("ValidationError", "Instance Id not found - No managed instance found for instance ID: i-1")) {
		t.Fatal("the API's not-found answer is not recognized")
	}
}

func TestLifecycleHookIsCreated(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 1)
	c := cfg(t, srv)
	c.LifecycleHook = hook(t)
	c.LifecycleHook.Create = true
	c.LifecycleHook.HeartbeatTimeout = config.Duration(120 * time.Second)
	c.LifecycleHook.DefaultResult = "ABANDON"
	p, _, _ := openP(t, c)
	ctx := context.Background()
	for range 2 {
		if _, err := p.Pending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	puts := srv.Calls("PutLifecycleHook")
	var mine []string
	for _, c := range puts {
		if c.Params.Get("AutoScalingGroupName") == name(t) {
			mine = append(mine, c.Params.Encode())
		}
	}
	want := "Action=PutLifecycleHook&AutoScalingGroupName=" + name(t) +
		"&DefaultResult=ABANDON&HeartbeatTimeout=120&LifecycleHookName=ebb-drain&LifecycleTransition=autoscaling%3AEC2_INSTANCE_TERMINATING&Version=2011-01-01"
	if len(mine) != 1 || mine[0] != want {
		t.Fatalf("PutLifecycleHook calls %v, want one: %s", mine, want)
	}
	if got := p.HeartbeatTimeout(); got != 120*time.Second {
		t.Fatalf("heartbeat timeout %s", got)
	}
}

func TestMissingHookIsAnErrorWithoutCreate(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 1)
	c := cfg(t, srv)
	c.LifecycleHook = hook(t)
	p, _, _ := openP(t, c)
	if _, err := p.Pending(context.Background()); !errors.Is(err, ErrNoHook) {
		t.Fatalf("err = %v, want ErrNoHook", err)
	}
}

// Without lifecycle_hook no instance waits on ebb: Pending lists none and
// calls nothing, so a group without a hook observes like any other.
func TestPendingWithoutAHookIsEmpty(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 1)
	p, _, n := openP(t, cfg(t, srv))
	ids, err := p.Pending(context.Background())
	if err != nil || len(ids) != 0 || n.get() != 0 {
		t.Fatalf("pending %v, %v after %d calls; want none, no error, no call", ids, err, n.get())
	}
}

func TestPendingHookHeartbeatThenComplete(t *testing.T) {
	for _, tt := range []struct {
		name   string
		result provider.HookResult
		want   string
	}{
		{name: "continue", result: provider.Continue, want: "CONTINUE"},
		{name: "abandon", result: provider.Abandon, want: "ABANDON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t)
			ids := launched(t, srv, 3)
			c := cfg(t, srv)
			c.LifecycleHook = hook(t)
			c.LifecycleHook.Create = true
			p, clk, _ := openP(t, c)
			ctx := context.Background()
			if got, err := p.Pending(ctx); err != nil || len(got) != 0 {
				t.Fatalf("pending before = %v, %v", got, err)
			}
			srv.TerminateByGroup(name(t), ids[1]) // an AZ rebalance
			got, err := p.Pending(ctx)
			if err != nil || !slices.Equal(got, []string{ids[1]}) {
				t.Fatalf("pending = %v, %v; want [%s]", got, err, ids[1])
			}
			// 300s heartbeat: the group waits 100 × 300s at most.
			if d := p.Deadline(ids[1]).Sub(clk.Now()); d != 30000*time.Second {
				t.Fatalf("deadline in %s, want 30000s", d)
			}
			for range 2 {
				if err := p.Heartbeat(ctx, ids[1]); err != nil {
					t.Fatal(err)
				}
			}
			hb := srv.Calls("RecordLifecycleActionHeartbeat")
			if last := hb[len(hb)-1].Params; last.Get("InstanceId") != ids[1] || last.Get("LifecycleHookName") != "ebb-drain" ||
				last.Get("AutoScalingGroupName") != name(t) {
				t.Fatalf("heartbeat params %v", last)
			}
			if err := p.Complete(ctx, ids[1], tt.result); err != nil {
				t.Fatal(err)
			}
			in := srv.Group(name(t)).Instances[1]
			if in.Heartbeats != 2 || in.Result != tt.want || in.State != "Terminating:Proceed" {
				t.Fatalf("instance after: %+v", in)
			}
			if got, err := p.Pending(ctx); err != nil || len(got) != 0 {
				t.Fatalf("pending after = %v, %v", got, err)
			}
			// Completed already: completing is success, heartbeating says so.
			if err := p.Complete(ctx, ids[1], tt.result); err != nil {
				t.Fatalf("complete again: %v", err)
			}
			if err := p.Heartbeat(ctx, ids[1]); !errors.Is(err, ErrNoAction) {
				t.Fatalf("heartbeat after complete: %v, want ErrNoAction", err)
			}
		})
	}
}

func TestPendingListsWhatEbbRemovedToo(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 3)
	c := cfg(t, srv)
	c.LifecycleHook = hook(t)
	c.LifecycleHook.Create = true
	p, _, _ := openP(t, c)
	ctx := context.Background()
	if _, err := p.Pending(ctx); err != nil { // creates the hook
		t.Fatal(err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: ids[0]}}); err != nil {
		t.Fatal(err)
	}
	if st := srv.Group(name(t)).Instances[0].State; st != "Terminating:Wait" {
		t.Fatalf("removed instance is %s", st)
	}
	// Pending only reads: letting ebb's own victims go is the caller's.
	got, err := p.Pending(ctx)
	if err != nil || !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("pending = %v, %v; want [%s]", got, err, ids[0])
	}
	if in := srv.Group(name(t)).Instances[0]; in.Result != "" || completedBy(srv, ids[0]) {
		t.Fatalf("pending completed the action: %+v", in)
	}
}

func TestProtectionIsSetFiftyAtATime(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 120)
	p, _, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls("SetInstanceProtection"))
	if err := p.SetProtected(context.Background(), ids, true); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range srv.Calls("SetInstanceProtection")[before:] {
		if c.Params.Get("ProtectedFromScaleIn") != "true" || c.Params.Get("AutoScalingGroupName") != name(t) {
			t.Fatalf("params %v", c.Params)
		}
		sizes = append(sizes, len(c.Params)-4)
	}
	if !slices.Equal(sizes, []int{50, 50, 20}) {
		t.Fatalf("batches of %v, want 50, 50, 20", sizes)
	}
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range obs.Instances {
		if !in.Protected {
			t.Fatalf("%s not protected", in.ID)
		}
	}
}

func TestECSContainerInstanceDrain(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 2)
	cluster := name(t)
	srv.AddCluster(cluster)
	arn := srv.AddContainerInstance(cluster, ids[0], 3)
	srv.AddContainerInstance(cluster, ids[1], 2)
	c := cfg(t, srv)
	c.ECSCluster = cluster
	p, _, _ := openP(t, c)
	ctx := context.Background()
	if err := p.DrainContainerInstance(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	up := srv.Calls("UpdateContainerInstancesState")
	got := up[len(up)-1].JSON
	want := map[string]any{"cluster": cluster, "containerInstances": []any{arn}, "status": "DRAINING"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("UpdateContainerInstancesState (-want +got):\n%s", d)
	}
	if ci := srv.ContainerInstance(cluster, ids[1]); ci.Status != "ACTIVE" {
		t.Fatalf("the other container instance is %s", ci.Status)
	}
	for _, step := range []struct{ running, pending int }{{3, 0}, {1, 1}, {0, 1}, {0, 0}} {
		srv.SetRunning(cluster, ids[0], step.running, step.pending)
		busy, err := p.Busy(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if want := step.running+step.pending > 0; busy != want {
			t.Fatalf("busy with %d running, %d pending = %v", step.running, step.pending, busy)
		}
	}
	var lists int
	for _, c := range srv.Calls("ListContainerInstances") {
		if c.JSON["cluster"] == cluster {
			lists++
			if c.JSON["filter"] != "ec2InstanceId == "+ids[0] {
				t.Fatalf("filter %v", c.JSON["filter"])
			}
		}
	}
	if lists != 1 {
		t.Fatalf("looked the container instance up %d times, want once", lists)
	}
	// Not a container instance: nothing to drain, never busy.
	if err := p.DrainContainerInstance(ctx, "i-notecs"); err != nil {
		t.Fatal(err)
	}
	if busy, err := p.Busy(ctx, "i-notecs"); err != nil || busy {
		t.Fatalf("busy = %v, %v", busy, err)
	}
}

func TestThrottlingIsRetriedWithinTries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		throttled int
		fail500   int
		wantCalls int
		wantErr   string
	}{
		{name: "throttled 3 times", throttled: 3, wantCalls: 4},
		{name: "5xx twice", fail500: 2, wantCalls: 3},
		{name: "throttled beyond tries", throttled: 9, wantCalls: 5, wantErr: "Throttling: Rate exceeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t)
			launched(t, srv, 0)
			p, _, n := openP(t, cfg(t, srv))
			srv.Throttle("SetDesiredCapacity", tt.throttled)
			srv.Fail("SetDesiredCapacity", tt.fail500)
			defer srv.Throttle("SetDesiredCapacity", 0)
			err := p.SetDesired(context.Background(), 2)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n.get() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", n.get(), tt.wantCalls)
			}
		})
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	srv := fake(t)
	p, _, n := openP(t, cfg(t, srv)) // no such group
	_, err := p.Observe(context.Background())
	if !errors.Is(err, ErrNoGroup) || n.get() != 1 {
		t.Fatalf("err = %v after %d calls; want ErrNoGroup after 1", err, n.get())
	}
	if err := p.SetDesired(context.Background(), 1); err == nil || n.get() != 2 {
		t.Fatalf("set desired on a missing group: %v after %d calls", err, n.get())
	}
}

func TestHungCallsTimeOut(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 1)
	c := cfg(t, srv)
	c.Timeout = config.Duration(50 * time.Millisecond)
	c.Tries = 2
	p, _, n := openP(t, c)
	srv.Hang("DescribeAutoScalingGroups", true)
	defer srv.Hang("DescribeAutoScalingGroups", false)
	if _, err := p.Observe(context.Background()); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if n.get() != 2 {
		t.Fatalf("%d attempts, want 2", n.get())
	}
}

func TestRateLimitSpreadsABurst(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 0)
	c := cfg(t, srv)
	c.Rate, c.Burst = 2, 3
	p, clk, n := openP(t, c)
	start := clk.Now()
	for range 7 {
		if _, err := p.Observe(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 3 at once, then one each half second: the 7th goes 2s after the
	// first, on the provider's clock.
	if took := clk.Now().Sub(start); took != 2*time.Second || n.get() != 7 {
		t.Fatalf("7 calls took %s on the clock (%d calls), want 2s", took, n.get())
	}
}

func TestEndedContextMakesNoCall(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 2)
	c := cfg(t, srv)
	c.LifecycleHook = hook(t)
	c.ECSCluster = "x"
	p, _, n := openP(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for what, err := range map[string]error{
		"observe":    func() error { _, err := p.Observe(ctx); return err }(),
		"set":        p.SetDesired(ctx, 1),
		"remove":     p.Remove(ctx, []provider.Victim{{ID: ids[0]}}),
		"protect":    p.SetProtected(ctx, ids, true),
		"pending":    func() error { _, err := p.Pending(ctx); return err }(),
		"heartbeat":  p.Heartbeat(ctx, ids[0]),
		"complete":   p.Complete(ctx, ids[0], provider.Continue),
		"drain":      p.DrainContainerInstance(ctx, ids[0]),
		"busy check": func() error { _, err := p.Busy(ctx, ids[0]); return err }(),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want canceled", what, err)
		}
	}
	if n.get() != 0 {
		t.Fatalf("%d calls with an ended context", n.get())
	}
}

func TestValidate(t *testing.T) {
	srv := fake(t)
	good := cfg(t, srv)
	bad := cfg(t, srv)
	bad.Region, bad.AutoScalingGroup, bad.Rate, bad.Tries = "", "{{.Nope}}", 0, 0
	bad.ECSEndpoint = "ecs:443"
	bad.LifecycleHook = &Hook{Name: "", HeartbeatTimeout: config.Duration(10 * time.Second), DefaultResult: "MAYBE"}
	tests := []struct {
		name string
		c    *Config
		want []string
	}{
		{name: "good", c: good},
		{name: "bad", c: bad, want: []string{"region: required", "rate: must be > 0", "tries: must be 1 to 10",
			"auto_scaling_group: invalid template", `ecs_endpoint: "ecs:443" is not an http(s) URL`,
			"ecs_endpoint: applies only with ecs_cluster", "lifecycle_hook.name: must be 1 to 255",
			"lifecycle_hook.heartbeat_timeout: must be whole seconds from 30s to 7200s",
			`lifecycle_hook.default_result: must be CONTINUE or ABANDON, not "MAYBE"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

type apiErr struct{ code, msg string }

func (e apiErr) Error() string                 { return e.code + ": " + e.msg }
func (e apiErr) ErrorCode() string             { return e.code }
func (e apiErr) ErrorMessage() string          { return e.msg }
func (e apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func errorLike(code, msg string) error { return apiErr{code, msg} }

// completedBy reports whether a CompleteLifecycleAction named instance id.
func completedBy(srv *awstest.Server, id string) bool {
	for _, c := range srv.Calls("CompleteLifecycleAction") {
		if c.Params.Get("InstanceId") == id {
			return true
		}
	}
	return false
}
