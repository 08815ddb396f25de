package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// ErrNoGroup is returned when the Auto Scaling group does not exist.
var ErrNoGroup = errors.New("no such auto scaling group")

// protectBatch is the most instance IDs one SetInstanceProtection takes.
const protectBatch = 50

// Provider drives one Auto Scaling group. It is safe for concurrent use.
type Provider struct {
	asg     *autoscaling.Client
	ecs     *ecs.Client // nil without ecs_cluster
	ec2     *ec2.Client // nil without port
	port    int
	calls   *awsconn.Caller
	clock   clock.Clock
	group   string // the Auto Scaling group's name
	cluster string
	hook    *Hook

	mu      sync.Mutex
	seen    map[string]time.Time // instance → when first observed: its LaunchedAt
	hooked  *hookInfo            // the hook as the group has it, once checked
	waiting map[string]time.Time // instance → when first seen in Terminating:Wait
	arns    map[string]string    // EC2 instance ID → container instance ARN
}

var (
	_ provider.Capacity  = (*Provider)(nil)
	_ provider.Protector = (*Provider)(nil)
	_ provider.Hooked    = (*Provider)(nil)
	_ provider.Drainer   = (*Provider)(nil)
	_ provider.Deadliner = (*Provider)(nil)
)

func open(c *Config, deps provider.Deps) (*Provider, error) {
	t, err := config.ParseTemplate("auto_scaling_group", c.AutoScalingGroup)
	if err != nil {
		return nil, err
	}
	name, err := config.Execute(t, config.TemplateData{Group: deps.Group})
	if err != nil {
		return nil, err
	}
	cfg, err := c.AWS.Config(context.Background())
	if err != nil {
		return nil, err
	}
	p := &Provider{
		asg: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			o.BaseEndpoint = c.EndpointURL()
			o.RetryMaxAttempts = 1
		}),
		calls:   awsconn.NewCaller(c.Limits, deps.Clock, deps.Rand, deps.Group),
		clock:   deps.Clock,
		group:   name,
		cluster: c.ECSCluster,
		port:    c.Port,
		hook:    c.LifecycleHook,
		seen:    map[string]time.Time{},
		waiting: map[string]time.Time{},
		arns:    map[string]string{},
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if c.ECSCluster != "" {
		ep := c.EndpointURL()
		if c.ECSEndpoint != "" {
			ep = awssdk.String(c.ECSEndpoint)
		}
		p.ecs = ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			o.BaseEndpoint = ep
			o.RetryMaxAttempts = 1
		})
	}
	if c.Port > 0 {
		ep := c.EndpointURL()
		if c.EC2Endpoint != "" {
			ep = awssdk.String(c.EC2Endpoint)
		}
		p.ec2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			o.BaseEndpoint = ep
			o.RetryMaxAttempts = 1
		})
	}
	return p, nil
}

// Calls reports every attempt to f (tests count them).
func (p *Provider) Calls(f func(what string)) { p.calls.OnCall = f }

// Observe reads the group: one DescribeAutoScalingGroups call; with port,
// then DescribeInstances for the instances' addresses and launch times,
// 1000 a call.
func (p *Provider) Observe(ctx context.Context) (provider.Observed, error) {
	g, err := p.describe(ctx)
	if err != nil {
		return provider.Observed{}, err
	}
	var info map[string]ec2Info
	if p.ec2 != nil && len(g.Instances) > 0 {
		ids := make([]string, 0, len(g.Instances))
		for _, in := range g.Instances {
			ids = append(ids, awssdk.ToString(in.InstanceId))
		}
		if info, err = p.describeInstances(ctx, ids); err != nil {
			return provider.Observed{}, err
		}
	}
	obs := provider.Observed{
		Desired: int(awssdk.ToInt32(g.DesiredCapacity)),
		Min:     int(awssdk.ToInt32(g.MinSize)),
		Max:     int(awssdk.ToInt32(g.MaxSize)),
	}
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	present := map[string]bool{}
	for _, in := range g.Instances {
		id := awssdk.ToString(in.InstanceId)
		present[id] = true
		first, ok := p.seen[id]
		if !ok {
			first = now
			p.seen[id] = now
		}
		// EC2's launch time when it has the instance; else first sight.
		e := info[id]
		if !e.launchedAt.IsZero() {
			first = e.launchedAt
		}
		obs.Instances = append(obs.Instances, provider.Instance{
			ID:         id,
			Addr:       e.addr,
			Zone:       awssdk.ToString(in.AvailabilityZone),
			Ready:      in.LifecycleState == types.LifecycleStateInService,
			Leaving:    leaving(in.LifecycleState),
			LaunchedAt: first,
			Protected:  awssdk.ToBool(in.ProtectedFromScaleIn),
		})
	}
	for id := range p.seen {
		if !present[id] {
			delete(p.seen, id)
		}
	}
	slices.SortFunc(obs.Instances, func(a, b provider.Instance) int { return strings.Compare(a.ID, b.ID) })
	return obs, nil
}

// leaving reports whether an instance in state s is on its way out of the
// group: terminating (hook wait included) or detaching.
func leaving(s types.LifecycleState) bool {
	return strings.HasPrefix(string(s), "Terminat") || strings.HasPrefix(string(s), "Detach")
}

func (p *Provider) describe(ctx context.Context) (types.AutoScalingGroup, error) {
	out, err := do(ctx, p, "describe auto scaling group "+p.group,
		func(ctx context.Context) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
			return p.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
				AutoScalingGroupNames: []string{p.group},
			})
		})
	if err != nil {
		return types.AutoScalingGroup{}, err
	}
	for _, g := range out.AutoScalingGroups {
		if awssdk.ToString(g.AutoScalingGroupName) == p.group {
			return g, nil
		}
	}
	return types.AutoScalingGroup{}, fmt.Errorf("describe auto scaling group %s: %w", p.group, ErrNoGroup)
}

// SetDesired sets the group's desired capacity, cooldowns ignored: ebb
// keeps its own.
func (p *Provider) SetDesired(ctx context.Context, n int) error {
	_, err := do(ctx, p, fmt.Sprintf("set desired capacity of %s to %d", p.group, n),
		func(ctx context.Context) (*autoscaling.SetDesiredCapacityOutput, error) {
			return p.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
				AutoScalingGroupName: awssdk.String(p.group),
				DesiredCapacity:      awssdk.Int32(int32(n)),
				HonorCooldown:        awssdk.Bool(false),
			})
		})
	return err
}

// Remove terminates the victims with the desired capacity decremented, so
// no replacement launches. It first reads the group:
// TerminateInstanceInAutoScalingGroup names an instance only, not its
// group, and an ID that is not (or no longer) this group's must not be
// terminated; nor is one already terminating, whose count has dropped.
func (p *Provider) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove instances from %s: %w", p.group, err)
	}
	g, err := p.describe(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, in := range g.Instances {
		live[awssdk.ToString(in.InstanceId)] = !leaving(in.LifecycleState)
	}
	for _, v := range victims {
		if !live[v.ID] {
			continue
		}
		_, err := do(ctx, p, fmt.Sprintf("terminate instance %s of %s", v.ID, p.group),
			func(ctx context.Context) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
				return p.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
					InstanceId:                     awssdk.String(v.ID),
					ShouldDecrementDesiredCapacity: awssdk.Bool(true),
				})
			})
		if notFound(err) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// notFound reports whether err says the instance is not in an Auto
// Scaling group (gone already).
func notFound(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationError" &&
		strings.Contains(strings.ToLower(api.ErrorMessage()), "not found")
}

// SetProtected sets scale-in protection on the instances, 50 a call.
func (p *Provider) SetProtected(ctx context.Context, ids []string, protected bool) error {
	for batch := range slices.Chunk(ids, protectBatch) {
		_, err := do(ctx, p, fmt.Sprintf("set scale-in protection of %d instances of %s to %v", len(batch), p.group, protected),
			func(ctx context.Context) (*autoscaling.SetInstanceProtectionOutput, error) {
				return p.asg.SetInstanceProtection(ctx, &autoscaling.SetInstanceProtectionInput{
					AutoScalingGroupName: awssdk.String(p.group),
					InstanceIds:          batch,
					ProtectedFromScaleIn: awssdk.Bool(protected),
				})
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// do makes one call under the provider's limits.
func do[T any](ctx context.Context, p *Provider, what string, call func(ctx context.Context) (T, error)) (T, error) {
	return awsconn.Do(ctx, p.calls, what, call)
}
