package registry

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// renewCounter counts renewals in the last minute, in one-second buckets:
// memory stays constant however many instances renew.
type renewCounter struct {
	buckets [60]struct {
		sec   int64
		count int
	}
}

func (c *renewCounter) add(now time.Time) {
	sec := now.Unix()
	b := &c.buckets[mod60(sec)]
	if sec < b.sec {
		return // a minute older than what the bucket holds: outside any window that matters
	}
	if b.sec != sec {
		b.sec, b.count = sec, 0
	}
	b.count++
}

// lastMinute is the number of renewals in the 60 whole seconds ending
// with now's.
func (c *renewCounter) lastMinute(now time.Time) int {
	sec := now.Unix()
	n := 0
	for _, b := range c.buckets {
		if b.count > 0 && b.sec > sec-60 && b.sec <= sec {
			n += b.count
		}
	}
	return n
}

func mod60(s int64) int64 { return ((s % 60) + 60) % 60 }

// SelfPreservation is the state of Eureka's guard against a network
// partition: when far fewer renewals arrive than the registry expects, the
// missing instances are more likely cut off than dead, and eviction stops.
type SelfPreservation struct {
	// Enabled is false when the configuration disables self-preservation.
	Enabled bool
	// Active means eviction is suspended now.
	Active bool
	// Instances is the number of registered instances, expired or not.
	Instances int
	// ExpectedRenewsPerMin is Instances × (60 s / renewal interval).
	ExpectedRenewsPerMin int
	// ThresholdRenewsPerMin is ExpectedRenewsPerMin × the renewal percent
	// threshold, rounded down; eviction needs more renewals than this.
	ThresholdRenewsPerMin int
	// RenewsLastMin is the renewals counted in the last minute.
	RenewsLastMin int
}

// SelfPreservation reports whether eviction would run at now, and why.
func (r *Registry) SelfPreservation(now time.Time) SelfPreservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.selfPreservationLocked(now)
}

func (r *Registry) selfPreservationLocked(now time.Time) SelfPreservation {
	n := 0
	for _, leases := range r.apps {
		n += len(leases)
	}
	perInstance := float64(time.Minute) / float64(r.cfg.RenewalInterval)
	expected := int(float64(n) * perInstance)
	sp := SelfPreservation{
		Enabled:               !r.cfg.DisableSelfPreservation,
		Instances:             n,
		ExpectedRenewsPerMin:  expected,
		ThresholdRenewsPerMin: int(float64(n) * perInstance * r.cfg.RenewalPercentThreshold),
		RenewsLastMin:         r.renews.lastMinute(now),
	}
	sp.Active = sp.Enabled && !(sp.ThresholdRenewsPerMin > 0 && sp.RenewsLastMin > sp.ThresholdRenewsPerMin)
	return sp
}

// EvictionReport is what one eviction pass saw and did.
type EvictionReport struct {
	// Expired is how many leases had expired.
	Expired int
	// Limit is the most this pass could evict: the registry size minus
	// the share (the renewal percent threshold) it must keep.
	Limit int
	// Evicted are the instances removed, as the delta reports them.
	Evicted []Instance
	// SelfPreservation is the guard's state; when Active nothing is evicted.
	SelfPreservation SelfPreservation
}

// Evict runs one eviction pass at now, as Eureka's evict task does: unless
// self-preservation is active, it removes instances whose lease has expired
// (no renewal for the lease duration), at most Limit of them, those expired
// longest first. The owner calls it every EvictionInterval (RunEvictions
// does that on a clock).
func (r *Registry) Evict(now time.Time) EvictionReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := EvictionReport{SelfPreservation: r.selfPreservationLocked(now)}
	var expired []*lease
	for _, leases := range r.apps {
		for _, l := range leases {
			if now.After(l.lastRenewal.Add(l.duration)) {
				expired = append(expired, l)
			}
		}
	}
	rep.Expired = len(expired)
	size := rep.SelfPreservation.Instances
	rep.Limit = size - int(float64(size)*r.cfg.RenewalPercentThreshold)
	if rep.SelfPreservation.Active || len(expired) == 0 {
		return rep
	}
	// Eureka picks the expired at random so that a big eviction does not
	// wipe whole apps; ebb picks the longest silent first, which spreads
	// the same way and is reproducible.
	slices.SortFunc(expired, func(a, b *lease) int {
		return cmp.Or(a.lastRenewal.Compare(b.lastRenewal), cmp.Compare(a.info.App, b.info.App), cmp.Compare(a.info.ID(), b.info.ID()))
	})
	for _, l := range expired[:min(len(expired), rep.Limit)] {
		r.remove(now, l.info.App, l.info.ID())
		rep.Evicted = append(rep.Evicted, r.changes[len(r.changes)-1].info)
	}
	return rep
}

// RunEvictions calls Evict every EvictionInterval of clk until ctx is done,
// handing each pass's report to report (which may be nil). It returns
// ctx's error.
func (r *Registry) RunEvictions(ctx context.Context, clk clock.Clock, report func(EvictionReport)) error {
	for {
		if err := clk.Sleep(ctx, r.cfg.EvictionInterval); err != nil {
			return err
		}
		rep := r.Evict(clk.Now())
		if report != nil {
			report(rep)
		}
	}
}
