package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

var (
	// ErrNoHook is returned when the group lacks the lifecycle hook and
	// ebb may not create it.
	ErrNoHook = errors.New("no such lifecycle hook")
	// ErrNoAction is returned by Heartbeat when the instance has no
	// lifecycle action waiting (completed, or timed out).
	ErrNoAction = errors.New("no lifecycle action waiting")
	// errNotHooked is returned by the hook calls without lifecycle_hook.
	errNotHooked = errors.New("no lifecycle_hook configured")
)

// terminating is the transition of the hooks ebb answers.
const terminating = "autoscaling:EC2_INSTANCE_TERMINATING"

// maxGlobalTimeout caps a lifecycle action's whole wait, heartbeats or not.
const maxGlobalTimeout = 48 * time.Hour

// hookInfo is the hook as the group has it.
type hookInfo struct {
	heartbeat time.Duration
	global    time.Duration
}

// ensureHook checks once that the group has the hook, creating it when
// the config says so. An existing hook is kept as it is; its own timeouts
// are the ones that count.
func (p *Provider) ensureHook(ctx context.Context) (hookInfo, error) {
	if p.hook == nil {
		return hookInfo{}, errNotHooked
	}
	p.mu.Lock()
	h := p.hooked
	p.mu.Unlock()
	if h != nil {
		return *h, nil
	}
	out, err := do(ctx, p, fmt.Sprintf("describe lifecycle hook %s of %s", p.hook.Name, p.group),
		func(ctx context.Context) (*autoscaling.DescribeLifecycleHooksOutput, error) {
			return p.asg.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{
				AutoScalingGroupName: awssdk.String(p.group),
				LifecycleHookNames:   []string{p.hook.Name},
			})
		})
	if err != nil {
		return hookInfo{}, err
	}
	var info hookInfo
	if i := slices.IndexFunc(out.LifecycleHooks, func(h types.LifecycleHook) bool {
		return awssdk.ToString(h.LifecycleHookName) == p.hook.Name
	}); i >= 0 {
		h := out.LifecycleHooks[i]
		if tr := awssdk.ToString(h.LifecycleTransition); tr != terminating {
			return hookInfo{}, fmt.Errorf("lifecycle hook %s of %s is for %s, not %s", p.hook.Name, p.group, tr, terminating)
		}
		info.heartbeat = time.Duration(awssdk.ToInt32(h.HeartbeatTimeout)) * time.Second
		info.global = time.Duration(awssdk.ToInt32(h.GlobalTimeout)) * time.Second
	} else {
		if !p.hook.Create {
			return hookInfo{}, fmt.Errorf("lifecycle hook %s of %s (set create: true to let ebb make it): %w", p.hook.Name, p.group, ErrNoHook)
		}
		hb := p.hook.HeartbeatTimeout.D()
		_, err := do(ctx, p, fmt.Sprintf("create lifecycle hook %s of %s", p.hook.Name, p.group),
			func(ctx context.Context) (*autoscaling.PutLifecycleHookOutput, error) {
				return p.asg.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
					AutoScalingGroupName: awssdk.String(p.group),
					LifecycleHookName:    awssdk.String(p.hook.Name),
					LifecycleTransition:  awssdk.String(terminating),
					HeartbeatTimeout:     awssdk.Int32(int32(hb / time.Second)),
					DefaultResult:        awssdk.String(p.hook.DefaultResult),
				})
			})
		if err != nil {
			return hookInfo{}, err
		}
		info.heartbeat = hb
	}
	if info.global <= 0 {
		info.global = min(maxGlobalTimeout, 100*info.heartbeat)
	}
	p.mu.Lock()
	p.hooked = &info
	p.mu.Unlock()
	return info, nil
}

// Pending lists every instance waiting in Terminating:Wait: those the
// group terminates on its own, and those ebb removed (drained already: the
// caller lets them go with Continue). It checks (or creates) the hook on
// its first call; otherwise it only reads. Without lifecycle_hook nothing
// waits: it returns none and makes no call.
func (p *Provider) Pending(ctx context.Context) ([]string, error) {
	if p.hook == nil {
		return nil, nil
	}
	if _, err := p.ensureHook(ctx); err != nil {
		return nil, err
	}
	g, err := p.describe(ctx)
	if err != nil {
		return nil, err
	}
	now := p.clock.Now()
	var out []string
	present := map[string]bool{}
	p.mu.Lock()
	for _, in := range g.Instances {
		id := awssdk.ToString(in.InstanceId)
		present[id] = true
		if in.LifecycleState != types.LifecycleStateTerminatingWait {
			continue
		}
		if _, ok := p.waiting[id]; !ok {
			p.waiting[id] = now
		}
		out = append(out, id)
	}
	for _, m := range []map[string]time.Time{p.waiting, p.seen} {
		for id := range m {
			if !present[id] {
				delete(m, id)
			}
		}
	}
	for id := range p.arns {
		if !present[id] {
			delete(p.arns, id)
		}
	}
	p.mu.Unlock()
	slices.Sort(out)
	return out, nil
}

// Deadline is when the group stops waiting for instance id whatever ebb
// does: the hook's global timeout (min(48h, 100 × heartbeat timeout))
// after Pending first listed it. A drain must end before it. The zero
// time when Pending has not listed id.
func (p *Provider) Deadline(id string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	first, ok := p.waiting[id]
	if !ok || p.hooked == nil {
		return time.Time{}
	}
	return first.Add(p.hooked.global)
}

// HeartbeatTimeout is how long the group waits for a heartbeat, once the
// hook was checked (by Pending); zero before. Heartbeat well within it (a
// third is safe).
func (p *Provider) HeartbeatTimeout() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hooked == nil {
		return 0
	}
	return p.hooked.heartbeat
}

// Heartbeat extends instance id's wait by one heartbeat timeout (never past
// the global timeout). It wraps ErrNoAction when the instance no longer
// waits.
func (p *Provider) Heartbeat(ctx context.Context, id string) error {
	if p.hook == nil {
		return errNotHooked
	}
	_, err := do(ctx, p, fmt.Sprintf("heartbeat lifecycle hook %s of instance %s", p.hook.Name, id),
		func(ctx context.Context) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
			return p.asg.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
				AutoScalingGroupName: awssdk.String(p.group),
				LifecycleHookName:    awssdk.String(p.hook.Name),
				InstanceId:           awssdk.String(id),
			})
		})
	if noAction(err) {
		return fmt.Errorf("heartbeat instance %s: %w", id, ErrNoAction)
	}
	return err
}

// Complete ends instance id's wait: CONTINUE or ABANDON (for a terminate
// hook both terminate the instance). An instance no longer waiting is
// success: its action was completed or timed out.
func (p *Provider) Complete(ctx context.Context, id string, result provider.HookResult) error {
	if p.hook == nil {
		return errNotHooked
	}
	res := "CONTINUE"
	if result == provider.Abandon {
		res = "ABANDON"
	}
	_, err := do(ctx, p, fmt.Sprintf("complete lifecycle hook %s of instance %s with %s", p.hook.Name, id, res),
		func(ctx context.Context) (*autoscaling.CompleteLifecycleActionOutput, error) {
			return p.asg.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
				AutoScalingGroupName:  awssdk.String(p.group),
				LifecycleHookName:     awssdk.String(p.hook.Name),
				InstanceId:            awssdk.String(id),
				LifecycleActionResult: awssdk.String(res),
			})
		})
	if noAction(err) {
		err = nil
	}
	if err == nil {
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
	}
	return err
}

// noAction reports whether err says the instance has no lifecycle action
// waiting.
func noAction(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationError" &&
		strings.Contains(api.ErrorMessage(), "No active Lifecycle Action")
}
