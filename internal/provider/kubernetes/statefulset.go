package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// StatefulSet is the provider for apps/statefulsets. A StatefulSet removes
// its highest ordinals when its replicas drop, and pod-deletion-cost does
// not apply to it: ebb drains the Pods Pick names, and Remove only lowers
// the replicas, after checking the victims are those ordinals.
type StatefulSet struct{ *Provider }

// Pick returns the n Pods of highest ordinal among those not leaving,
// highest first.
func (s *StatefulSet) Pick(obs provider.Observed, n int) []string {
	type pod struct {
		name    string
		ordinal int
	}
	var pods []pod
	for _, in := range obs.Instances {
		if in.Leaving {
			continue
		}
		if o, ok := s.ordinal(in.ID); ok {
			pods = append(pods, pod{in.ID, o})
		}
	}
	slices.SortFunc(pods, func(a, b pod) int { return cmp.Compare(b.ordinal, a.ordinal) })
	var out []string
	for _, p := range pods[:min(n, len(pods))] {
		out = append(out, p.name)
	}
	return out
}

// ordinal parses NAME-ORDINAL.
func (s *StatefulSet) ordinal(pod string) (int, bool) {
	rest, ok := strings.CutPrefix(pod, s.name+"-")
	if !ok {
		return 0, false
	}
	o, err := strconv.Atoi(rest)
	if err != nil || o < 0 || strconv.Itoa(o) != rest {
		return 0, false
	}
	return o, true
}

// Remove lowers the replicas by the number of victims still counted:
// present, not being deleted, and of an ordinal below start+replicas
// (higher ones are already being removed). Those must be exactly the
// highest counted ordinals, [start+replicas-k, start+replicas), which the
// StatefulSet then removes; any other victim is an error wrapping
// errNotHighest, and nothing changes. It reads the StatefulSet once, for
// spec.ordinals.start.
func (s *StatefulSet) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove from %s: %w", s.workload(), err)
	}
	present, sc, err := s.present(ctx, victims)
	if err != nil {
		return err
	}
	if len(present) == 0 {
		return nil
	}
	start := 0
	err = s.call(ctx, "get "+s.workload(), func(ctx context.Context) error {
		set, err := s.c.core.AppsV1().StatefulSets(s.cfg.Namespace).Get(ctx, s.name, metav1.GetOptions{})
		if err == nil && set.Spec.Ordinals != nil {
			start = int(set.Spec.Ordinals.Start)
		}
		return err
	})
	if err != nil {
		return err
	}
	replicas := int(sc.Spec.Replicas)
	var counted []int
	var names []string
	for _, pod := range present {
		o, ok := s.ordinal(pod.Name)
		if !ok {
			return fmt.Errorf("remove %s from %s: not one of its ordinals: %w", pod.Name, s.workload(), errNotHighest)
		}
		if o >= start+replicas {
			continue // beyond the replicas: already on its way out
		}
		counted = append(counted, o)
		names = append(names, pod.Name)
	}
	k := len(counted)
	if k == 0 {
		return nil
	}
	for _, o := range counted {
		if o < start+replicas-k {
			return fmt.Errorf("remove %s from %s: %w: with %d replicas, removing %d takes ordinals %d to %d",
				strings.Join(names, ", "), s.workload(), errNotHighest, replicas, k, start+replicas-k, start+replicas-1)
		}
	}
	// Lower from the replicas the check was made against: if they changed
	// since, the victims may no longer be the highest, and the update
	// conflicts on the resourceVersion instead of removing others.
	sc.Spec.Replicas = int32(replicas - k)
	ambiguous, err := s.updateScale(ctx, sc)
	if ambiguous && apierrors.IsConflict(err) {
		// Perhaps with an earlier attempt's own write, whose answer was
		// lost: done if the replicas read what it set.
		if cur, gerr := s.getScale(ctx); gerr == nil && cur.Spec.Replicas == sc.Spec.Replicas {
			return nil
		}
	}
	return err
}
