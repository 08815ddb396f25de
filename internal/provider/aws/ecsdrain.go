package aws

import (
	"context"
	"errors"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// errNotECS is returned by the container-instance calls without
// ecs_cluster.
var errNotECS = errors.New("no ecs_cluster configured")

// DrainContainerInstance sets the ECS container instance running on EC2
// instance id to DRAINING: ECS stops placing tasks on it and moves its
// service tasks elsewhere. An instance that is not a container instance of
// the cluster has nothing to drain: success.
func (p *Provider) DrainContainerInstance(ctx context.Context, id string) error {
	arn, err := p.containerInstance(ctx, id)
	if err != nil || arn == "" {
		return err
	}
	out, err := do(ctx, p, fmt.Sprintf("drain container instance of %s in cluster %s", id, p.cluster),
		func(ctx context.Context) (*ecs.UpdateContainerInstancesStateOutput, error) {
			return p.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
				Cluster:            awssdk.String(p.cluster),
				ContainerInstances: []string{arn},
				Status:             ecstypes.ContainerInstanceStatusDraining,
			})
		})
	if err != nil {
		return err
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return fmt.Errorf("drain container instance of %s in cluster %s: %s", id, p.cluster, awssdk.ToString(f.Reason))
	}
	return nil
}

// Busy reports whether the container instance on EC2 instance id still has
// tasks running or pending: the drain is done when it has none.
func (p *Provider) Busy(ctx context.Context, id string) (bool, error) {
	arn, err := p.containerInstance(ctx, id)
	if err != nil || arn == "" {
		return false, err
	}
	out, err := do(ctx, p, fmt.Sprintf("describe container instance of %s in cluster %s", id, p.cluster),
		func(ctx context.Context) (*ecs.DescribeContainerInstancesOutput, error) {
			return p.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
				Cluster:            awssdk.String(p.cluster),
				ContainerInstances: []string{arn},
			})
		})
	if err != nil {
		return false, err
	}
	for _, ci := range out.ContainerInstances {
		if awssdk.ToString(ci.ContainerInstanceArn) == arn {
			return ci.RunningTasksCount+ci.PendingTasksCount > 0, nil
		}
	}
	// Deregistered: nothing runs there any more.
	p.mu.Lock()
	delete(p.arns, id)
	p.mu.Unlock()
	return false, nil
}

// containerInstance returns the ARN of the container instance on EC2
// instance id, looked up once; "" when there is none.
func (p *Provider) containerInstance(ctx context.Context, id string) (string, error) {
	if p.ecs == nil {
		return "", errNotECS
	}
	p.mu.Lock()
	arn, ok := p.arns[id]
	p.mu.Unlock()
	if ok {
		return arn, nil
	}
	out, err := do(ctx, p, fmt.Sprintf("find the container instance of %s in cluster %s", id, p.cluster),
		func(ctx context.Context) (*ecs.ListContainerInstancesOutput, error) {
			return p.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{
				Cluster: awssdk.String(p.cluster),
				Filter:  awssdk.String("ec2InstanceId == " + id),
			})
		})
	if err != nil {
		return "", err
	}
	if len(out.ContainerInstanceArns) == 0 {
		return "", nil
	}
	arn = out.ContainerInstanceArns[0]
	p.mu.Lock()
	p.arns[id] = arn
	p.mu.Unlock()
	return arn, nil
}

// Drains reports whether the group's instances are ECS container
// instances, which the fleet drains through Drain and Busy.
func (p *Provider) Drains() bool { return p.ecs != nil }

// Drain sets the container instance on EC2 instance id to DRAINING.
func (p *Provider) Drain(ctx context.Context, id string) error {
	return p.DrainContainerInstance(ctx, id)
}
