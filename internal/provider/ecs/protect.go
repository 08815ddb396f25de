package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
)

// Batch sizes of the task protection calls, ECS's own limits.
const (
	getProtectionBatch = 100 // GetTaskProtection
	setProtectionBatch = 10  // UpdateTaskProtection
)

// Bounds of UpdateTaskProtection's expiresInMinutes.
const (
	minHold = time.Minute
	maxHold = 2880 * time.Minute
)

// ErrProtection is wrapped by the error of a task protection call that
// ECS answered with a failure for a task it knows (TASK_NOT_VALID, say):
// the call went through for the others.
var ErrProtection = errors.New("ECS refused the scale-in protection of a task")

// protection is a task's scale-in protection as GetTaskProtection reads it.
type protection struct {
	on    bool
	until time.Time // when on: when it expires
}

// protections reads the scale-in protection of tasks (IDs), 100 a call.
// Tasks ECS no longer knows (MISSING) are left out.
func (p *Provider) protections(ctx context.Context, ids []string) (map[string]protection, error) {
	out := make(map[string]protection, len(ids))
	for batch := range slices.Chunk(ids, getProtectionBatch) {
		res, err := awsconn.Do(ctx, p.calls, fmt.Sprintf("get the scale-in protection of %d tasks of service %s", len(batch), p.service),
			func(ctx context.Context) (*ecs.GetTaskProtectionOutput, error) {
				return p.client.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{
					Cluster: awssdk.String(p.cluster),
					Tasks:   batch,
				})
			})
		if err != nil {
			return nil, err
		}
		if err := refused("get the scale-in protection of tasks of service "+p.service, res.Failures); err != nil {
			return nil, err
		}
		for _, t := range res.ProtectedTasks {
			pr := protection{on: t.ProtectionEnabled}
			if t.ExpirationDate != nil {
				pr.until = *t.ExpirationDate
			}
			out[taskID(awssdk.ToString(t.TaskArn))] = pr
		}
	}
	return out, nil
}

// setProtection turns the scale-in protection of tasks (IDs) on, for hold
// (whole minutes, 1 to 2880), or off, 10 tasks a call. It returns the
// tasks ECS changed; a task it no longer knows (MISSING) is skipped. A
// task it refuses, or a call that fails, ends it with an error, the tasks
// of earlier calls changed.
func (p *Provider) setProtection(ctx context.Context, ids []string, on bool, hold time.Duration) ([]string, error) {
	var done []string
	what := "unprotect"
	var minutes *int32
	if on {
		what = "protect"
		minutes = awssdk.Int32(int32(hold / time.Minute))
	}
	for batch := range slices.Chunk(ids, setProtectionBatch) {
		what := fmt.Sprintf("%s %d tasks of service %s from scale-in", what, len(batch), p.service)
		res, err := awsconn.Do(ctx, p.calls, what,
			func(ctx context.Context) (*ecs.UpdateTaskProtectionOutput, error) {
				return p.client.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{
					Cluster:           awssdk.String(p.cluster),
					Tasks:             batch,
					ProtectionEnabled: on,
					ExpiresInMinutes:  minutes,
				})
			})
		if err != nil {
			return done, err
		}
		for _, t := range res.ProtectedTasks {
			done = append(done, taskID(awssdk.ToString(t.TaskArn)))
		}
		if err := refused(what, res.Failures); err != nil {
			return done, err
		}
	}
	return done, nil
}

// refused turns an answer's failures into an error, MISSING tasks (gone
// already) aside.
func refused(what string, failures []types.Failure) error {
	var errs []error
	for _, f := range failures {
		if awssdk.ToString(f.Reason) == "MISSING" {
			continue
		}
		msg := awssdk.ToString(f.Reason)
		if d := awssdk.ToString(f.Detail); d != "" {
			msg += " (" + d + ")"
		}
		errs = append(errs, fmt.Errorf("task %s: %s", taskID(awssdk.ToString(f.Arn)), msg))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w: %w", what, ErrProtection, errors.Join(errs...))
}

// holdFor is how long Remove protects the tasks it keeps: long enough for
// its calls after the protection (calls of them) to run out their
// timeouts and retries, plus a minute for the rate limiter, in whole
// minutes within ECS's 1 to 2880.
func (p *Provider) holdFor(calls int) time.Duration {
	d := time.Duration(calls)*p.limits.Longest() + time.Minute
	return min(max(d.Round(time.Minute), minHold), maxHold)
}

// plan is what Remove changes in task protection: guard are the kept
// tasks it protects (unprotected, or protected for less than the hold),
// release those of them it unprotects after (the ones that were not
// protected: a protection of a task's own that was only extended is left
// to lapse), bare the victims whose protection it turns off.
type plan struct {
	guard, release, bare []string
}

func planProtection(keep, stop []string, prot map[string]protection, until time.Time) plan {
	var pl plan
	for _, id := range keep {
		pr, known := prot[id]
		if !known {
			continue // gone since the listing
		}
		if !pr.on || pr.until.Before(until) {
			pl.guard = append(pl.guard, id)
		}
		if !pr.on {
			pl.release = append(pl.release, id)
		}
	}
	for _, id := range stop {
		if prot[id].on {
			pl.bare = append(pl.bare, id)
		}
	}
	return pl
}
