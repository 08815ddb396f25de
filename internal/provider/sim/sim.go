// Package sim is the simulator's provider: a system that owns its instances,
// like an Auto Scaling group, on a virtual clock. The fleet drives it as it
// drives any capacity provider (the same reconciler, intents, drains and
// selection as ebb run); what it launches becomes ready after a boot time
// drawn from a distribution, some launches fail, only so many boot at once,
// and its API can refuse calls as a throttled cloud API does. The workload
// model holds the instances' work: a drained instance is removed only once
// the model says it holds none.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Work is what the provider asks of the workload model.
type Work interface {
	// Busy reports whether the instance still holds work.
	Busy(id string) bool
	// Stopped tells the model the instance is gone.
	Stopped(id string)
}

// Infra is how the simulated system behaves.
type Infra struct {
	// Boot is the mean time from launch to ready; BootJitter spreads it
	// (a lognormal with this coefficient of variation; 0: always Boot).
	Boot       time.Duration
	BootJitter float64
	// LaunchFailure is the probability that a launch never becomes ready;
	// the system notices at the end of its boot, removes it and launches
	// another, as an Auto Scaling group does.
	LaunchFailure float64
	// MaxBooting bounds the instances booting at once; more wait (0: no
	// bound).
	MaxBooting int
	// Throttle is the probability that a call to the system's API is
	// refused (a cloud API's "Rate exceeded"); the fleet retries it.
	Throttle float64
}

// Validate reports every problem of the settings.
func (in Infra) Validate() error {
	var errs []error
	if in.Boot < 0 {
		errs = append(errs, fmt.Errorf("boot %s: must be ≥ 0", in.Boot))
	}
	if !(in.BootJitter >= 0 && in.BootJitter <= 5) {
		errs = append(errs, fmt.Errorf("boot jitter %g: must be 0 to 5", in.BootJitter))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"launch failure", in.LaunchFailure}, {"throttle", in.Throttle}} {
		if !(p.v >= 0 && p.v < 1) {
			errs = append(errs, fmt.Errorf("%s %g: must be a probability in [0, 1)", p.name, p.v))
		}
	}
	if in.MaxBooting < 0 {
		errs = append(errs, fmt.Errorf("max booting %d: must be ≥ 0", in.MaxBooting))
	}
	return errors.Join(errs...)
}

// ErrThrottled is the error of a refused call.
var ErrThrottled = errors.New("Throttling: Rate exceeded")

// instance is one simulated instance.
type instance struct {
	id       string
	launched time.Time
	ready    time.Time // when it is ready; zero while it waits to boot
	fails    bool      // it never becomes ready
	draining bool
}

// System is the simulated system. It is not safe for concurrent use: the
// simulator runs one step at a time.
type System struct {
	infra   Infra
	now     func() time.Time
	rng     *rand.Rand
	work    Work
	prefix  string
	desired int
	insts   []*instance
	// observed is the last Observe's answer, reused by the next.
	observed []provider.Instance
	next     int
	last     time.Time // the last Step
	// Between events nothing changes: a Step before wake, with the count
	// met and no instance added or removed by others since the last full
	// Step, has nothing to do.
	wake    time.Time // the earliest ready time from the last full Step on
	waking  bool      // some instance readies from the last full Step on
	touched bool      // an instance was added or removed outside Step
	billed  int       // instances launched and not yet removed (Running)
	version uint64    // counts changes to what Each reports
	full    bool      // tests: every Step does the whole work
	// Launches and Failures count what the system did.
	Launches, Failures, Throttled int
}

var (
	_ provider.Capacity  = (*System)(nil)
	_ provider.Drainer   = (*System)(nil)
	_ provider.Immediate = (*System)(nil)
)

// New makes a system for one group, with no instance; prefix starts the
// instance IDs.
func New(infra Infra, prefix string, now func() time.Time, rng *rand.Rand, work Work) (*System, error) {
	if err := infra.Validate(); err != nil {
		return nil, err
	}
	return &System{infra: infra, now: now, rng: rng, work: work, prefix: prefix}, nil
}

// Warm starts the system with n instances ready now, as a group already
// running when the simulation starts.
func (s *System) Warm(n int) {
	now := s.now()
	s.desired = n
	for range n {
		s.next++
		s.insts = append(s.insts, &instance{id: fmt.Sprintf("%s%d", s.prefix, s.next), launched: now, ready: now})
	}
	if !now.IsZero() {
		s.billed += n
	}
	s.touched = true
	s.version++
}

func (s *System) call(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.infra.Throttle > 0 && s.rng.Float64() < s.infra.Throttle {
		s.Throttled++
		return ErrThrottled
	}
	return nil
}

// Observe returns the count and the instances, ready once booted. The
// instances' slice is reused by the next Observe (provider.Capacity
// allows it): a simulation observes at every reconcile.
func (s *System) Observe(ctx context.Context) (provider.Observed, error) {
	if err := s.call(ctx); err != nil {
		return provider.Observed{}, err
	}
	now := s.now()
	obs := provider.Observed{Desired: s.desired, Min: -1, Max: -1, Instances: s.observed[:0]}
	for _, in := range s.insts {
		obs.Instances = append(obs.Instances, provider.Instance{
			ID: in.id, LaunchedAt: in.launched,
			Ready: !in.ready.IsZero() && !in.fails && !now.Before(in.ready),
		})
	}
	s.observed = obs.Instances
	return obs, nil
}

// SetDesired sets the count; the system launches toward it as it steps.
func (s *System) SetDesired(ctx context.Context, n int) error {
	if err := s.call(ctx); err != nil {
		return err
	}
	s.desired = n
	return nil
}

// Remove takes the victims out, lowering the count for each still there.
func (s *System) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := s.call(ctx); err != nil {
		return err
	}
	for _, v := range victims {
		if i := slices.IndexFunc(s.insts, func(in *instance) bool { return in.id == v.ID }); i >= 0 {
			s.forget(s.insts[i])
			s.insts = slices.Delete(s.insts, i, i+1)
			s.desired--
			s.work.Stopped(v.ID)
		}
	}
	return nil
}

// Immediate says every call answers at once: the system is in memory, on
// the simulation's own clock.
func (s *System) Immediate() bool { return true }

// Drains says the system drains instances itself: the workload finishes
// the work a victim holds.
func (s *System) Drains() bool { return true }

// Drain stops the instance taking new work.
func (s *System) Drain(ctx context.Context, id string) error {
	if err := s.call(ctx); err != nil {
		return err
	}
	for _, in := range s.insts {
		if in.id == id && !in.draining {
			in.draining = true
			s.version++
		}
	}
	return nil
}

// Busy reports whether the instance still holds work.
func (s *System) Busy(ctx context.Context, id string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.work.Busy(id), nil
}

// Step is the system's own controller at now: it notices failed launches
// (removing them) and launches toward the count, at most MaxBooting
// booting at once. It reports whether anything an observer sees changed
// since the last Step: an instance became ready, failed or was launched.
func (s *System) Step() bool {
	now := s.now()
	if s.quiet(now) {
		s.last = now
		return false
	}
	changed := false
	s.insts = slices.DeleteFunc(s.insts, func(in *instance) bool {
		if in.fails && !in.ready.IsZero() && !now.Before(in.ready) {
			s.Failures++
			s.forget(in)
			s.work.Stopped(in.id)
			changed = true
			return true
		}
		return false
	})
	for _, in := range s.insts {
		if !in.ready.IsZero() && !in.fails && !now.Before(in.ready) && now.Sub(in.ready) < s.sinceStep(now) {
			changed = true // became ready since the last step
		}
	}
	s.last = now
	for len(s.insts) < s.desired {
		s.next++
		s.insts = append(s.insts, &instance{id: fmt.Sprintf("%s%d", s.prefix, s.next), launched: now})
		changed = true
	}
	if len(s.insts) > s.desired {
		changed = true
		// The count dropped below what runs without a Remove (someone
		// else's change): the newest go, as an Auto Scaling group's
		// default termination policy would pick among equals.
		for _, in := range s.insts[s.desired:] {
			s.forget(in)
			s.work.Stopped(in.id)
		}
		s.insts = s.insts[:s.desired]
	}
	booting := 0
	for _, in := range s.insts {
		if !in.ready.IsZero() && now.Before(in.ready) {
			booting++
		}
	}
	for _, in := range s.insts {
		if !in.ready.IsZero() {
			continue
		}
		if s.infra.MaxBooting > 0 && booting >= s.infra.MaxBooting {
			break
		}
		booting++
		s.Launches++
		in.launched = now
		in.ready = now.Add(s.boot())
		if !in.ready.IsZero() {
			s.billed++
		}
		in.fails = s.infra.LaunchFailure > 0 && s.rng.Float64() < s.infra.LaunchFailure
		changed = true
	}
	s.touched, s.waking = false, false
	for _, in := range s.insts {
		// One launched now with no boot time is ready now; if it fails,
		// the next Step removes it.
		if !in.ready.IsZero() && !in.ready.Before(now) && (!s.waking || in.ready.Before(s.wake)) {
			s.wake, s.waking = in.ready, true
		}
	}
	if changed {
		s.version++
	}
	return changed
}

// quiet reports whether a Step at now would find nothing to do: no
// instance readies (or fails) between the last Step and now, the count is
// met and none was added or removed since. An instance waiting for a boot
// slot gets one only when a booting one ends or is removed.
func (s *System) quiet(now time.Time) bool {
	return !s.full && !s.last.IsZero() && !s.touched && len(s.insts) == s.desired && !now.Before(s.last) &&
		(!s.waking || now.Before(s.wake))
}

// forget accounts for an instance leaving the system.
func (s *System) forget(in *instance) {
	if !in.ready.IsZero() {
		s.billed--
	}
	s.touched = true
	s.version++
}

// sinceStep is the time since the last Step (all of it at the first).
func (s *System) sinceStep(now time.Time) time.Duration {
	if s.last.IsZero() {
		return math.MaxInt64
	}
	return now.Sub(s.last)
}

// boot draws a boot time: lognormal with mean Boot and coefficient of
// variation BootJitter.
func (s *System) boot() time.Duration {
	b := s.infra.Boot
	cv := s.infra.BootJitter
	if cv == 0 || b == 0 {
		return b
	}
	sigma2 := math.Log1p(cv * cv)
	mu := math.Log(b.Seconds()) - sigma2/2
	return time.Duration(math.Exp(mu+math.Sqrt(sigma2)*s.rng.NormFloat64()) * float64(time.Second))
}

// Each calls f for every instance the workload sees, in launch order:
// ready ones, serving until drained.
func (s *System) Each(f func(id string, serving, draining bool)) {
	now := s.now()
	for _, in := range s.insts {
		if !in.ready.IsZero() && !in.fails && !now.Before(in.ready) {
			f(in.id, !in.draining, in.draining)
		}
	}
}

// Running counts what is billed: every instance launched and not yet
// removed, booting and draining ones included.
func (s *System) Running() int { return s.billed }

// Version changes whenever what Each reports may have changed: an instance
// became ready, was drained or left. A caller that keeps what Each
// reported need not ask again while Version stays the same.
func (s *System) Version() uint64 { return s.version }
