package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/registry"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Environment variables a local instance of a group with
// lifecycle.registry finds its registration in.
const (
	EnvRegistryURL = "EBB_REGISTRY_URL" // the registry's base URL, http://127.0.0.1:7070/eureka
	EnvRegistryApp = "EBB_REGISTRY_APP" // the app to register under
	EnvInstanceID  = "EBB_INSTANCE_ID"  // the instanceId to register with: ebb's instance ID
)

// registryPrefix is where the API serves the registry.
const registryPrefix = "/eureka"

// openRegistry builds the service registry from the config and loads what
// the store keeps of it. A leader saves every change to the store; a
// follower only loads (Follow loads again whenever the store moved).
func (d *Daemon) openRegistry(c config.Registry) error {
	reg, err := registry.New(registry.Config{
		LeaseDuration: c.LeaseDuration.D(), RenewalInterval: c.RenewalInterval.D(),
		EvictionInterval: c.EvictionInterval.D(), RenewalPercentThreshold: c.RenewalPercentThreshold,
		DisableSelfPreservation: !c.SelfPreservation,
	})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	d.reg = reg
	if !d.opt.Follow {
		reg.Persist(registrySaver{d.st})
	}
	return d.loadRegistry()
}

// loadRegistry makes the registry hold what the store keeps. A record
// that does not decode is logged and skipped: the instance registers
// again at its next renewal, which the registry answers 404.
func (d *Daemon) loadRegistry() error {
	var raw []json.RawMessage
	if err := d.st.View(func(tx *store.Tx) error {
		var err error
		raw, err = tx.Registrations()
		return err
	}); err != nil {
		return fmt.Errorf("read the registry from the store: %w", err)
	}
	ins := make([]registry.Instance, 0, len(raw))
	for _, b := range raw {
		var in registry.Instance
		if err := json.Unmarshal(b, &in); err != nil {
			d.opt.Log.Warn("skipping a registration the store holds", "err", err)
			continue
		}
		ins = append(ins, in)
	}
	if err := d.reg.Load(d.opt.Clock.Now(), ins); err != nil {
		d.opt.Log.Warn("skipping registrations the store holds", "err", err)
	}
	return nil
}

// registrySaver keeps the registry's registrations in the store, all of
// one save in one transaction.
type registrySaver struct{ st *store.Store }

func (s registrySaver) SaveRegistrations(put []registry.Instance, deleted []registry.Key) error {
	vals := make([][]byte, len(put))
	for i, in := range put {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode registration %s/%s: %w", in.App, in.ID(), err)
		}
		vals[i] = b
	}
	return s.st.Update(func(tx *store.Tx) error {
		for i, in := range put {
			if err := tx.PutRegistration(in.App, in.ID(), vals[i]); err != nil {
				return err
			}
		}
		for _, k := range deleted {
			if err := tx.DeleteRegistration(k.App, k.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Registry is the registry's REST API (Eureka's), served under /eureka.
// Its writes, like every other, go to the leader when this ebb follows.
func (d *Daemon) Registry() http.Handler {
	return registry.NewHandler(d.reg, d.opt.Clock, registryPrefix)
}

// runEvictions evicts expired registrations every eviction interval,
// saving each pass and logging what it did.
func (d *Daemon) runEvictions(ctx context.Context) {
	preserving := false
	err := d.reg.RunEvictions(ctx, d.opt.Clock, func(rep registry.EvictionReport) {
		for _, in := range rep.Evicted {
			d.opt.Log.Info("registry evicted an instance whose lease expired", "app", in.App, "instance", in.ID())
		}
		// Said when it starts and ends, not at every pass.
		if sp := rep.SelfPreservation; sp.Active && rep.Expired > 0 && !preserving {
			preserving = true
			d.opt.Log.Warn("registry self-preservation: expired leases are kept while renewals are this low (a network partition, more likely than dead instances)",
				"expired", rep.Expired, "renewals_last_minute", sp.RenewsLastMin, "needed_above", sp.ThresholdRenewsPerMin)
		} else if !sp.Active && preserving {
			preserving = false
			d.opt.Log.Info("registry self-preservation ended: renewals recovered", "renewals_last_minute", sp.RenewsLastMin)
		}
		if err := d.reg.Save(); err != nil {
			d.opt.Log.Warn("save the registry after evictions; retried with the next change", "err", err)
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		d.opt.Log.Warn("registry evictions stopped", "err", err)
	}
}

// SetAddress records the address the API listens on (host:port), which
// local instances of groups with lifecycle.registry are given as the
// registry's URL. Call it before Run; an unspecified host (0.0.0.0, ::)
// is given as 127.0.0.1, where local instances reach it.
func (d *Daemon) SetAddress(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	u := "http://" + net.JoinHostPort(host, port) + registryPrefix
	d.registryURL.Store(&u)
}

// registryEnv is the environment a local instance of a group with
// lifecycle.registry registers with, read at each launch: the URL is known
// once the API listens.
func (d *Daemon) registryEnv() []string {
	if u := d.registryURL.Load(); u != nil {
		return []string{EnvRegistryURL + "=" + *u}
	}
	return nil
}

// RegistryView is the registry as GET /v1/registry and ebb registry show
// it: every app's instances with their leases, and self-preservation.
type RegistryView struct {
	SelfPreservation RegistryPreservation `json:"self_preservation"`
	Apps             []RegistryApp        `json:"apps"`
}

// RegistryPreservation is the registry's guard against a partition.
type RegistryPreservation struct {
	Enabled bool `json:"enabled"`
	// Active: evictions are held, because renewals in the last minute are
	// not above Threshold.
	Active            bool `json:"active"`
	RenewalsLastMin   int  `json:"renewals_last_minute"`
	ExpectedPerMin    int  `json:"expected_renewals_per_minute"`
	ThresholdPerMin   int  `json:"threshold_renewals_per_minute"`
	RegisteredOverall int  `json:"instances"`
}

// RegistryApp is one app's instances, by ID.
type RegistryApp struct {
	Name      string             `json:"name"`
	Instances []RegistryInstance `json:"instances"`
}

// RegistryInstance is one registration and its lease.
type RegistryInstance struct {
	ID               string    `json:"id"`
	Status           string    `json:"status"`
	OverriddenStatus string    `json:"overridden_status,omitempty"`
	Addr             string    `json:"addr"`
	Registered       time.Time `json:"registered"`
	LastRenewal      time.Time `json:"last_renewal"`
	LeaseExpires     time.Time `json:"lease_expires"`
	Expired          bool      `json:"expired"`
}

// RegistryStatus is the registry now. A follower shows what the leader
// saved: registrations and overrides, with leases counted from when it
// read them (renewals are not kept), and no renewal counts.
func (d *Daemon) RegistryStatus() RegistryView {
	now := d.opt.Clock.Now()
	sp := d.reg.SelfPreservation(now)
	v := RegistryView{SelfPreservation: RegistryPreservation{
		Enabled: sp.Enabled, Active: sp.Active, RenewalsLastMin: sp.RenewsLastMin,
		ExpectedPerMin: sp.ExpectedRenewsPerMin, ThresholdPerMin: sp.ThresholdRenewsPerMin, RegisteredOverall: sp.Instances,
	}, Apps: []RegistryApp{}}
	for _, app := range d.reg.Applications().Apps {
		ra := RegistryApp{Name: app.Name, Instances: make([]RegistryInstance, 0, len(app.Instances))}
		for _, in := range app.Instances {
			last := time.UnixMilli(in.LeaseInfo.LastRenewalTimestamp).UTC()
			expires := last.Add(time.Duration(in.LeaseInfo.DurationInSecs) * time.Second)
			ri := RegistryInstance{
				ID: in.ID(), Status: string(in.Status), Addr: net.JoinHostPort(in.IPAddr, strconv.Itoa(in.Port.Number)),
				Registered: time.UnixMilli(in.LeaseInfo.RegistrationTimestamp).UTC(), LastRenewal: last,
				LeaseExpires: expires, Expired: now.After(expires),
			}
			if o := in.OverriddenStatus; o != "" && o != registry.StatusUnknown {
				ri.OverriddenStatus = string(o)
			}
			ra.Instances = append(ra.Instances, ri)
		}
		v.Apps = append(v.Apps, ra)
	}
	return v
}
