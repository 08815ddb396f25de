package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// ErrNoService is returned when the service does not exist in the cluster
// (or is no longer active).
var ErrNoService = errors.New("no such ECS service")

// describeBatch is the most tasks one DescribeTasks takes.
const describeBatch = 100

// stopReason is what StopTask records on the tasks ebb stops.
const stopReason = "ebb scale-in"

// Provider drives one ECS service. It holds no state besides its limits
// and is safe for concurrent use.
type Provider struct {
	client  *ecs.Client
	calls   *awsconn.Caller
	limits  awsconn.Limits
	clock   clock.Clock
	log     *slog.Logger
	cluster string
	service string
	port    int
}

var _ provider.Capacity = (*Provider)(nil)

func open(c *Config, deps provider.Deps) (*Provider, error) {
	t, err := config.ParseTemplate("service", c.Service)
	if err != nil {
		return nil, err
	}
	service, err := config.Execute(t, config.TemplateData{Group: deps.Group})
	if err != nil {
		return nil, err
	}
	clk, log := deps.Clock, deps.Log
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := c.AWS.Config(context.Background())
	if err != nil {
		return nil, err
	}
	return &Provider{
		client: ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			o.BaseEndpoint = c.EndpointURL()
			o.RetryMaxAttempts = 1
		}),
		calls:   awsconn.NewCaller(c.Limits, deps.Clock, deps.Rand, deps.Group),
		limits:  c.Limits,
		clock:   clk,
		log:     log,
		cluster: c.Cluster,
		service: service,
		port:    c.Port,
	}, nil
}

// Calls reports every attempt to f (tests count them).
func (p *Provider) Calls(f func(what string)) { p.calls.OnCall = f }

// Observe reads the service: DescribeServices, ListTasks (one call a 100
// tasks) and DescribeTasks (one call a 100 tasks). It lists the tasks ECS
// means to keep running (desiredStatus RUNNING), as of the listing; a task
// ECS starts stopping between the listing and the description shows as
// Leaving.
func (p *Provider) Observe(ctx context.Context) (provider.Observed, error) {
	desired, err := p.desired(ctx)
	if err != nil {
		return provider.Observed{}, err
	}
	ids, err := p.listRunning(ctx)
	if err != nil {
		return provider.Observed{}, err
	}
	tasks, err := p.describeTasks(ctx, ids)
	if err != nil {
		return provider.Observed{}, err
	}
	obs := provider.Observed{Desired: desired, Min: -1, Max: -1}
	for _, t := range tasks {
		obs.Instances = append(obs.Instances, p.instance(t))
	}
	slices.SortFunc(obs.Instances, func(a, b provider.Instance) int { return strings.Compare(a.ID, b.ID) })
	return obs, nil
}

func (p *Provider) instance(t types.Task) provider.Instance {
	in := provider.Instance{
		ID:      taskID(awssdk.ToString(t.TaskArn)),
		Zone:    awssdk.ToString(t.AvailabilityZone),
		Ready:   awssdk.ToString(t.LastStatus) == "RUNNING" && awssdk.ToString(t.DesiredStatus) == "RUNNING",
		Leaving: awssdk.ToString(t.DesiredStatus) == "STOPPED",
	}
	switch {
	case t.CreatedAt != nil:
		in.LaunchedAt = *t.CreatedAt
	case t.StartedAt != nil:
		in.LaunchedAt = *t.StartedAt
	}
	if ip := privateIP(t); ip != "" && p.port > 0 {
		in.Addr = net.JoinHostPort(ip, strconv.Itoa(p.port))
	}
	return in
}

// privateIP is the task's ENI address (awsvpc network mode), "" without.
func privateIP(t types.Task) string {
	for _, a := range t.Attachments {
		if awssdk.ToString(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if awssdk.ToString(d.Name) == "privateIPv4Address" {
				return awssdk.ToString(d.Value)
			}
		}
	}
	return ""
}

// taskID is the last part of a task ARN: the ID StopTask and DescribeTasks
// take as well as the ARN.
func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func (p *Provider) desired(ctx context.Context) (int, error) {
	what := fmt.Sprintf("describe service %s in cluster %s", p.service, p.cluster)
	out, err := awsconn.Do(ctx, p.calls, what,
		func(ctx context.Context) (*ecs.DescribeServicesOutput, error) {
			return p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{
				Cluster:  awssdk.String(p.cluster),
				Services: []string{p.service},
			})
		})
	if err != nil {
		return 0, err
	}
	for _, s := range out.Services {
		if awssdk.ToString(s.ServiceName) == p.service || taskID(awssdk.ToString(s.ServiceArn)) == p.service {
			if st := awssdk.ToString(s.Status); st != "ACTIVE" && st != "" {
				return 0, fmt.Errorf("%s: service is %s: %w", what, st, ErrNoService)
			}
			return int(s.DesiredCount), nil
		}
	}
	return 0, fmt.Errorf("%s: %w", what, ErrNoService)
}

// describeTasks describes tasks (IDs or ARNs), 100 a call; tasks ECS no
// longer knows are left out.
func (p *Provider) describeTasks(ctx context.Context, refs []string) ([]types.Task, error) {
	var tasks []types.Task
	for batch := range slices.Chunk(refs, describeBatch) {
		out, err := awsconn.Do(ctx, p.calls, fmt.Sprintf("describe %d tasks in cluster %s", len(batch), p.cluster),
			func(ctx context.Context) (*ecs.DescribeTasksOutput, error) {
				return p.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{
					Cluster: awssdk.String(p.cluster),
					Tasks:   batch,
				})
			})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, out.Tasks...)
	}
	return tasks, nil
}

// SetDesired sets the service's desired count.
func (p *Provider) SetDesired(ctx context.Context, n int) error {
	_, err := awsconn.Do(ctx, p.calls, fmt.Sprintf("set desired count of service %s to %d", p.service, n),
		func(ctx context.Context) (*ecs.UpdateServiceOutput, error) {
			return p.client.UpdateService(ctx, &ecs.UpdateServiceInput{
				Cluster:      awssdk.String(p.cluster),
				Service:      awssdk.String(p.service),
				DesiredCount: awssdk.Int32(int32(n)),
			})
		})
	return err
}

// Remove takes the victims that are this service's tasks and still meant
// to run out of the service, and nothing else, with task scale-in
// protection:
//
//  1. ListTasks: the service's running tasks; victims not among them
//     (another service's, stopping already, unknown) are left alone.
//  2. GetTaskProtection of them all.
//  3. UpdateTaskProtection on, for the hold, of every task kept that is
//     not protected for that long already; then off for the victims that
//     are protected (a task's own protection, set while it worked: ebb
//     has drained it).
//  4. DescribeServices and UpdateService desiredCount lowered by the
//     victims' number: the scheduler can now only take victims.
//  5. StopTask each victim (reason "ebb scale-in"), so they go now.
//  6. UpdateTaskProtection off for the kept tasks step 3 protected that
//     had no protection before; a protection a task had and ebb extended
//     is left to lapse.
//
// Nothing is changed half-way before the count is lowered: if step 3 or
// 4 fails, the protection step 3 set is taken off again (best effort: it
// lapses at the hold anyway) and the error returned, the count untouched;
// a victim's own protection taken off is not put back (ebb has drained
// it).
// Once the count is lowered the removal is done whatever follows — the
// scheduler stops the unprotected victims itself to meet the count — so a
// StopTask that fails is logged and the protection of the kept tasks left
// to lapse (the scheduler has not acted yet), and a release that fails is
// logged too. A task the scheduler starts after step 1 (replacing one
// that failed) is not protected: the scheduler may stop it rather than a
// victim, and starts another once the victim stops; the count stays right.
func (p *Provider) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove tasks of service %s: %w", p.service, err)
	}
	running, err := p.listRunning(ctx)
	if err != nil {
		return err
	}
	var stop []string
	for _, v := range victims {
		id := taskID(v.ID)
		if slices.Contains(running, id) && !slices.Contains(stop, id) {
			stop = append(stop, id)
		}
	}
	if len(stop) == 0 {
		return nil
	}
	keep := slices.DeleteFunc(slices.Clone(running), func(id string) bool { return slices.Contains(stop, id) })
	prot, err := p.protections(ctx, running)
	if err != nil {
		return err
	}
	// The calls from the protection to the stops: the victims' release,
	// the count's read and write, the stops.
	hold := p.holdFor((len(stop)+setProtectionBatch-1)/setProtectionBatch + 2 + len(stop))
	pl := planProtection(keep, stop, prot, p.clock.Now().Add(hold))
	set, err := p.setProtection(ctx, pl.guard, true, hold)
	release := slices.DeleteFunc(set, func(id string) bool { return !slices.Contains(pl.release, id) })
	undo := func(err error) error {
		if _, uerr := p.setProtection(ctx, release, false, 0); uerr != nil {
			return errors.Join(err, fmt.Errorf("undo: %w", uerr))
		}
		return err
	}
	if err != nil {
		return undo(err)
	}
	if _, err := p.setProtection(ctx, pl.bare, false, 0); err != nil {
		return undo(err)
	}
	desired, err := p.desired(ctx)
	if err != nil {
		return undo(err)
	}
	if err := p.SetDesired(ctx, max(0, desired-len(stop))); err != nil {
		return undo(err)
	}
	for _, id := range stop {
		_, err := awsconn.Do(ctx, p.calls, fmt.Sprintf("stop task %s of service %s", id, p.service),
			func(ctx context.Context) (*ecs.StopTaskOutput, error) {
				return p.client.StopTask(ctx, &ecs.StopTaskInput{
					Cluster: awssdk.String(p.cluster),
					Task:    awssdk.String(id),
					Reason:  awssdk.String(stopReason),
				})
			})
		if err != nil && !gone(err) {
			p.log.Warn("the service's count is lowered and its other tasks protected: the scheduler stops the victim itself",
				"task", id, "protected_for", hold.String(), "err", err)
			return nil
		}
	}
	if _, err := p.setProtection(ctx, release, false, 0); err != nil {
		p.log.Warn("the protection ebb set on the tasks it keeps lapses by itself",
			"protected_for", hold.String(), "err", err)
	}
	return nil
}

// listRunning lists the IDs of the service's tasks meant to run
// (desiredStatus RUNNING), 100 a call.
func (p *Provider) listRunning(ctx context.Context) ([]string, error) {
	var ids []string
	var token *string
	for {
		out, err := awsconn.Do(ctx, p.calls, fmt.Sprintf("list tasks of service %s in cluster %s", p.service, p.cluster),
			func(ctx context.Context) (*ecs.ListTasksOutput, error) {
				return p.client.ListTasks(ctx, &ecs.ListTasksInput{
					Cluster:       awssdk.String(p.cluster),
					ServiceName:   awssdk.String(p.service),
					DesiredStatus: types.DesiredStatusRunning,
					NextToken:     token,
				})
			})
		if err != nil {
			return nil, err
		}
		for _, arn := range out.TaskArns {
			ids = append(ids, taskID(arn))
		}
		if token = out.NextToken; token == nil {
			return ids, nil
		}
	}
}

// gone reports whether err says the task is not known (stopped long ago).
func gone(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidParameterException" &&
		strings.Contains(api.ErrorMessage(), "not found")
}
