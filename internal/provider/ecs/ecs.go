package ecs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
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
	var arns []string
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
			return provider.Observed{}, err
		}
		arns = append(arns, out.TaskArns...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	tasks, err := p.describeTasks(ctx, arns)
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

// Remove lowers the desired count by the victims the service still runs,
// then stops each of them. The order matters: a task stopped while the
// count still counts it is replaced by the service scheduler at once,
// whereas after the count drops the scheduler has nothing to add. The
// window the other way round — the scheduler may stop a task of its own
// choosing to meet the lower count before StopTask lands — lasts a few
// milliseconds here against the scheduler's seconds; if it is lost, the
// count is still right and the scheduler starts one task to make up.
// Victims that are not this service's tasks, or are stopping already,
// are left alone.
func (p *Provider) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove tasks of service %s: %w", p.service, err)
	}
	refs := make([]string, len(victims))
	for i, v := range victims {
		refs[i] = v.ID
	}
	tasks, err := p.describeTasks(ctx, refs)
	if err != nil {
		return err
	}
	var stop []string
	for _, t := range tasks {
		if awssdk.ToString(t.Group) == "service:"+p.service && awssdk.ToString(t.DesiredStatus) == "RUNNING" {
			stop = append(stop, taskID(awssdk.ToString(t.TaskArn)))
		}
	}
	if len(stop) == 0 {
		return nil
	}
	desired, err := p.desired(ctx)
	if err != nil {
		return err
	}
	if err := p.SetDesired(ctx, max(0, desired-len(stop))); err != nil {
		return err
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
			return err
		}
	}
	return nil
}

// gone reports whether err says the task is not known (stopped long ago).
func gone(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidParameterException" &&
		strings.Contains(api.ErrorMessage(), "not found")
}
