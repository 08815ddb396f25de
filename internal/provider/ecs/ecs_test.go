package ecs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

const cluster = "prod"

func fake(t *testing.T) *awstest.Server {
	return testserver.Shared(t, &servers, "ecs", func() (*awstest.Server, error) {
		s := awstest.New()
		s.AddCluster(cluster)
		return s, nil
	})
}

// name is a service name of the test's own.
func name(t *testing.T) string { return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) }

func cfg(t *testing.T, srv *awstest.Server) *Config {
	t.Helper()
	d, err := config.Defaults(new(Config))
	if err != nil {
		t.Fatal(err)
	}
	c := d.(*Config)
	c.Region, c.Endpoint, c.Cluster = "us-east-1", srv.URL(), cluster
	c.AccessKeyID, c.SecretAccessKey = &config.Secret{Value: "AKIDTEST"}, &config.Secret{Value: "secret"}
	return c
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(string) { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *counter) get() int   { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func openP(t *testing.T, c *Config) (*Provider, *counter) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clk.SetInstant(true)
	p, err := Kind().Open(c, provider.Deps{Group: name(t), Clock: clk, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	n := &counter{}
	p.(*Provider).Calls(n.add)
	return p.(*Provider), n
}

func TestConformance(t *testing.T) {
	srv := fake(t)
	svc := name(t)
	srv.AddService(cluster, svc)
	capacitytest.Run(t, capacitytest.Harness{
		Open: func(t *testing.T) provider.Capacity {
			c := cfg(t, srv)
			c.Service = svc
			p, _ := openP(t, c)
			return p
		},
		Converge: func(*testing.T) { srv.ConvergeService(cluster, svc) },
		External: func(_ *testing.T, n int) { srv.SetServiceDesired(cluster, svc, n) },
	})
}

// running makes the test's service with n running tasks.
func running(t *testing.T, srv *awstest.Server, n int) []awstest.Task {
	t.Helper()
	srv.AddService(cluster, name(t))
	srv.SetServiceDesired(cluster, name(t), n)
	srv.ConvergeService(cluster, name(t))
	return mine(t, srv)
}

func mine(t *testing.T, srv *awstest.Server) []awstest.Task {
	var out []awstest.Task
	for _, tk := range srv.Tasks(cluster) {
		if tk.Service == name(t) {
			out = append(out, tk)
		}
	}
	return out
}

func TestObserve(t *testing.T) {
	srv := fake(t)
	tasks := running(t, srv, 2)
	c := cfg(t, srv)
	c.Port = 8080
	p, n := openP(t, c)
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Observed{Desired: 2, Min: -1, Max: -1}
	for _, tk := range tasks {
		want.Instances = append(want.Instances, provider.Instance{ID: tk.ID, Addr: tk.IP + ":8080", Zone: tk.Zone,
			Ready: true, LaunchedAt: tk.CreatedAt})
	}
	if d := cmp.Diff(want, obs, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Fatalf("observed (-want +got):\n%s", d)
	}
	if n.get() != 3 {
		t.Fatalf("observe made %d calls, want 3 (describe service, list tasks, describe tasks)", n.get())
	}
	p.service = "nope"
	if _, err := p.Observe(context.Background()); !errors.Is(err, ErrNoService) {
		t.Fatalf("missing service: err = %v", err)
	}
}

func TestObservePagesThroughTasks(t *testing.T) {
	srv := fake(t)
	running(t, srv, 150)
	p, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls(""))
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Counted as the server received them: an attempt lost on a closed
	// keep-alive connection before it arrived, and retried, is not a call.
	got := map[string]int{}
	for _, c := range srv.Calls("")[before:] {
		got[c.Action]++
	}
	if len(obs.Instances) != 150 || got["DescribeServices"] != 1 || got["ListTasks"] != 2 || got["DescribeTasks"] != 2 || len(got) != 3 {
		t.Fatalf("%d tasks in calls %v; want 150 in 1 DescribeServices, 2 ListTasks pages, 2 DescribeTasks", len(obs.Instances), got)
	}
}

func TestRemoveLowersTheCountThenStops(t *testing.T) {
	srv := fake(t)
	tasks := running(t, srv, 3)
	other := name(t) + "-other"
	srv.AddService(cluster, other)
	srv.SetServiceDesired(cluster, other, 1)
	srv.ConvergeService(cluster, other)
	var foreign string
	for _, tk := range srv.Tasks(cluster) {
		if tk.Service == other {
			foreign = tk.ID
		}
	}
	p, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls(""))
	err := p.Remove(context.Background(), []provider.Victim{{ID: tasks[0].ID}, {ID: foreign}, {ID: "0000gone"}})
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, c := range srv.Calls("")[before:] {
		switch c.Action {
		case "UpdateService":
			seq = append(seq, fmt.Sprint("UpdateService ", c.JSON["service"], " ", c.JSON["desiredCount"]))
		case "StopTask":
			seq = append(seq, fmt.Sprint("StopTask ", c.JSON["task"], " ", c.JSON["reason"]))
		}
	}
	want := []string{"UpdateService " + name(t) + " 2", "StopTask " + tasks[0].ID + " ebb scale-in"}
	if !slices.Equal(seq, want) {
		t.Fatalf("calls %q, want %q", seq, want)
	}
	if got := srv.ServiceDesired(cluster, other); got != 1 {
		t.Fatalf("the other service's count is %d", got)
	}
	for _, tk := range srv.Tasks(cluster) {
		if tk.ID == foreign && tk.DesiredStatus != "RUNNING" {
			t.Fatal("another service's task was stopped")
		}
	}
}

func TestThrottlingIsRetriedWithinTries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		throttled int
		wantCalls int
		wantErr   string
	}{
		{name: "throttled twice", throttled: 2, wantCalls: 3},
		{name: "throttled beyond tries", throttled: 9, wantCalls: 5, wantErr: "ThrottlingException: Rate exceeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t)
			running(t, srv, 0)
			p, n := openP(t, cfg(t, srv))
			srv.Throttle("UpdateService", tt.throttled)
			defer srv.Throttle("UpdateService", 0)
			err := p.SetDesired(context.Background(), 2)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n.get() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", n.get(), tt.wantCalls)
			}
			if tt.wantErr == "" && srv.ServiceDesired(cluster, name(t)) != 2 {
				t.Fatal("desired count not set")
			}
		})
	}
}

func TestEndedContextMakesNoCall(t *testing.T) {
	srv := fake(t)
	tasks := running(t, srv, 1)
	p, n := openP(t, cfg(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Observe(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("observe: %v", err)
	}
	if err := p.SetDesired(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("set desired: %v", err)
	}
	if err := p.Remove(ctx, []provider.Victim{{ID: tasks[0].ID}}); !errors.Is(err, context.Canceled) {
		t.Errorf("remove: %v", err)
	}
	if n.get() != 0 {
		t.Fatalf("%d calls with an ended context", n.get())
	}
}

func TestValidate(t *testing.T) {
	srv := fake(t)
	if err := cfg(t, srv).Validate(); err != nil {
		t.Fatalf("good: %v", err)
	}
	bad := cfg(t, srv)
	bad.Cluster, bad.Service, bad.Port, bad.Burst = "", "{{.ID", 70000, 0
	err := bad.Validate()
	for _, w := range []string{"cluster: required", "service: invalid template", "port: must be 0 to 65535", "burst: must be 1 to 1000"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func TestHungAndFailingCalls(t *testing.T) {
	srv := fake(t)
	running(t, srv, 1)
	c := cfg(t, srv)
	c.Timeout, c.Tries = config.Duration(50*time.Millisecond), 3
	p, n := openP(t, c)
	srv.Hang("DescribeServices", true)
	_, err := p.Observe(context.Background())
	srv.Hang("DescribeServices", false)
	if !errors.Is(err, context.DeadlineExceeded) || n.get() != 3 {
		t.Fatalf("hung: err = %v after %d calls; want a deadline after 3", err, n.get())
	}
	srv.Fail("DescribeServices", 2)
	if obs, err := p.Observe(context.Background()); err != nil || obs.Desired != 1 {
		t.Fatalf("after two 500s: %+v, %v", obs, err)
	}
	if got := n.get(); got != 3+3+2 { // 3 hung; 2 failed + 1 describe, list, describe tasks
		t.Fatalf("%d calls, want 8", got)
	}
}
