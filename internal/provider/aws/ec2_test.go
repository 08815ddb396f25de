package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/capacitytest"
)

func TestConformanceWithPort(t *testing.T) {
	srv := fake(t)
	g := name(t)
	srv.AddGroup(g, 0, 10)
	capacitytest.Run(t, capacitytest.Harness{
		Open: func(t *testing.T) provider.Capacity {
			c := cfg(t, srv)
			c.Port = 8080
			p, _, _ := openP(t, c)
			return p
		},
		Converge: func(*testing.T) { srv.ConvergeGroup(g) },
		External: func(_ *testing.T, n int) { srv.SetDesired(g, n) },
	})
}

func TestObserveWithPortReadsAddrAndLaunchTimeFromEC2(t *testing.T) {
	srv := fake(t)
	ids := launched(t, srv, 3)
	srv.SetUnlisted(name(t), ids[2], true) // just launched: EC2 does not know it yet
	c := cfg(t, srv)
	c.Port = 8080
	p, clk, n := openP(t, c)
	clk.Advance(time.Hour) // first sight differs from the launch time
	before := len(srv.Calls("DescribeInstances"))
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := srv.Group(name(t))
	addr := func(i int) string { return net.JoinHostPort(g.Instances[i].PrivateIP, "8080") }
	want := []provider.Instance{
		{ID: ids[0], Addr: addr(0), Zone: "us-east-1a", Ready: true, LaunchedAt: g.Instances[0].LaunchedAt},
		{ID: ids[1], Addr: addr(1), Zone: "us-east-1b", Ready: true, LaunchedAt: g.Instances[1].LaunchedAt},
		{ID: ids[2], Zone: "us-east-1a", Ready: true, LaunchedAt: clk.Now()}, // no address yet
	}
	if d := cmp.Diff(want, obs.Instances); d != "" {
		t.Fatalf("instances (-want +got):\n%s", d)
	}
	if g.Instances[0].PrivateIP == "" || clk.Now().Equal(g.Instances[0].LaunchedAt) {
		t.Fatalf("the fake's instance has no IP or launched at first sight: %+v", g.Instances[0])
	}
	// The group, then EC2 with all three (NotFound for ids[2]), then
	// without it.
	calls := srv.Calls("DescribeInstances")[before:]
	if n.get() != 3 || len(calls) != 2 {
		t.Fatalf("%d calls, %d to EC2; want 3, 2", n.get(), len(calls))
	}
	for k, v := range map[string]string{"Version": "2016-11-15", "InstanceId.1": ids[0], "InstanceId.3": ids[2]} {
		if got := calls[0].Params.Get(k); got != v {
			t.Errorf("first call: %s = %q, want %q", k, got, v)
		}
	}
	if got := calls[1].Params; got.Get("InstanceId.2") != ids[1] || got.Has("InstanceId.3") {
		t.Errorf("second call names %v, want ids[0:2]", got)
	}

	// Once EC2 lists it, it has its address and launch time.
	srv.SetUnlisted(name(t), ids[2], false)
	obs, err = p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in := obs.Instances[2]; in.Addr != addr(2) || !in.LaunchedAt.Equal(g.Instances[2].LaunchedAt) {
		t.Fatalf("instance listed by EC2 now: %+v, want addr %s launched %s", in, addr(2), g.Instances[2].LaunchedAt)
	}
}

func TestDescribeInstancesTakesAThousandIDsACall(t *testing.T) {
	srv := fake(t)
	g := name(t)
	srv.AddGroup(g, 0, 2001)
	srv.SetDesired(g, 2001)
	srv.ConvergeGroup(g)
	c := cfg(t, srv)
	c.Port = 9000
	c.Rate, c.Burst = 1000, 10
	p, _, n := openP(t, c)
	before := len(srv.Calls("DescribeInstances"))
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The size of each batch, once: an attempt the transport cut short
	// (the SDK's early close of a request body, aws/aws-sdk-go-v2#2737,
	// seen now and then with answers this large) is retried with the same
	// batch.
	var sizes []int
	last := ""
	for _, c := range srv.Calls("DescribeInstances")[before:] {
		if first := c.Params.Get("InstanceId.1"); first != last {
			last = first
			k := 0
			for c.Params.Has(fmt.Sprintf("InstanceId.%d", k+1)) {
				k++
			}
			sizes = append(sizes, k)
		}
	}
	if d := cmp.Diff([]int{1000, 1000, 1}, sizes); d != "" || n.get() < 4 {
		t.Fatalf("DescribeInstances batch sizes (-want +got):\n%s\n%d calls in all, want 4 or more", d, n.get())
	}
	if len(obs.Instances) != 2001 {
		t.Fatalf("%d instances, want 2001", len(obs.Instances))
	}
	for _, in := range obs.Instances {
		if !strings.HasSuffix(in.Addr, ":9000") {
			t.Fatalf("instance %s has address %q", in.ID, in.Addr)
		}
	}
}

func TestEC2ThrottlingIsRetriedWithinTries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		throttled int
		wantCalls int // DescribeAutoScalingGroups included
		wantErr   bool
	}{
		{name: "throttled twice", throttled: 2, wantCalls: 4},
		{name: "throttled beyond tries", throttled: 9, wantCalls: 6, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t)
			launched(t, srv, 2)
			c := cfg(t, srv)
			c.Port = 8080
			p, _, n := openP(t, c)
			srv.Throttle("DescribeInstances", tt.throttled)
			defer srv.Throttle("DescribeInstances", 0)
			obs, err := p.Observe(context.Background())
			if n.get() != tt.wantCalls {
				t.Fatalf("%d calls, want %d (err %v)", n.get(), tt.wantCalls, err)
			}
			if !tt.wantErr {
				if err != nil || obs.Instances[0].Addr == "" {
					t.Fatalf("err = %v, instances %+v", err, obs.Instances)
				}
				return
			}
			var api smithy.APIError
			var resp *awshttp.ResponseError
			if !errors.As(err, &api) || api.ErrorCode() != "RequestLimitExceeded" ||
				!errors.As(err, &resp) || resp.HTTPStatusCode() != 503 {
				t.Fatalf("err = %v, want RequestLimitExceeded with HTTP 503", err)
			}
		})
	}
}

func TestNoEC2CallWithoutPort(t *testing.T) {
	srv := fake(t)
	launched(t, srv, 2)
	p, _, n := openP(t, cfg(t, srv))
	before := len(srv.Calls("DescribeInstances"))
	obs, err := p.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Calls("DescribeInstances")) - before; got != 0 || n.get() != 1 {
		t.Fatalf("%d DescribeInstances calls, %d in all; want 0, 1", got, n.get())
	}
	for _, in := range obs.Instances {
		if in.Addr != "" {
			t.Fatalf("instance %s has address %q without port", in.ID, in.Addr)
		}
	}
}

func TestValidatePortAndEC2Endpoint(t *testing.T) {
	srv := fake(t)
	for _, tt := range []struct {
		name     string
		port     int
		endpoint string
		want     string
	}{
		{name: "port and endpoint", port: 8080, endpoint: "http://127.0.0.1:4566"},
		{name: "port out of range", port: 70000, want: "port: must be 0 to 65535, not 70000"},
		{name: "endpoint not a URL", port: 8080, endpoint: "ec2:443", want: `ec2_endpoint: "ec2:443" is not an http(s) URL`},
		{name: "endpoint without port", endpoint: "http://127.0.0.1:4566", want: "ec2_endpoint: applies only with port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg(t, srv)
			c.Port, c.EC2Endpoint = tt.port, tt.endpoint
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
