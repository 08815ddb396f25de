package config

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Signals a drain may send.
var drainSignals = []string{"SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"}

// Kubernetes object names (RFC 1123 subdomains) and namespaces (labels).
var (
	k8sName  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	k8sLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// runtime checks what only ebb run uses: the store and the API.
func (v *validator) runtime(f *File) {
	v.check(f.Store.Path != "", "store.path", "must not be empty")
	v.check(f.Store.JournalMax >= 1, "store.journal_max", "must be ≥ 1")
	v.check(f.Store.JournalAge > 0, "store.journal_age", "must be > 0")
	v.check(f.Store.SignalAge > 0, "store.signal_age", "must be > 0")
	v.check(f.Store.SignalMax >= 1, "store.signal_max", "must be ≥ 1")
	if pg := f.Store.Postgres; pg != nil {
		var ke *KeyError
		if !pg.DSN.IsSet() {
			v.errf("store.postgres.dsn", "required: the database's connection string (from env or file)")
		} else if err := pg.DSN.Validate(); errors.As(err, &ke) {
			v.errf("store.postgres.dsn", "%s", ke.Msg)
		}
		v.check(pg.Lease >= Duration(3*time.Second), "store.postgres.lease", "must be ≥ 3s (it is renewed every third of it)")
		if pg.Timeout <= 0 || pg.Timeout > pg.Lease {
			v.errf("store.postgres.timeout", "must be > 0 and ≤ the lease (%s), not %s", pg.Lease, pg.Timeout)
		}
		if kl := pg.KubernetesLease; kl != nil {
			v.check(len(kl.Name) <= 253 && k8sName.MatchString(kl.Name), "store.postgres.kubernetes_lease.name",
				"must be a Kubernetes object name (lower case letters, digits, '-' and '.'), not %q", kl.Name)
			v.check(len(kl.Namespace) <= 63 && k8sLabel.MatchString(kl.Namespace), "store.postgres.kubernetes_lease.namespace",
				"must be a namespace name (lower case letters, digits and '-'), not %q", kl.Namespace)
		}
		if a := pg.Advertise; a != "" {
			u, err := url.Parse(a)
			v.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/"),
				"store.postgres.advertise", "must be an http or https URL of the API, such as http://10.0.0.5:7070, not %q", a)
		}
	}
	if _, _, err := net.SplitHostPort(f.API.Listen); err != nil {
		v.errf("api.listen", "must be host:port, such as 127.0.0.1:7070, not %q", f.API.Listen)
	}
	v.check(f.API.MaxConnections >= 1, "api.max_connections", "must be ≥ 1")
	v.check(f.API.ReadHeaderTimeout > 0, "api.read_header_timeout", "must be > 0")
	v.check(f.API.ReadTimeout > 0, "api.read_timeout", "must be > 0")
	// A drain call waits up to a minute for the instance; a shorter write
	// timeout would cut its answer off.
	v.check(f.API.WriteTimeout > Duration(time.Minute), "api.write_timeout", "must be > 1m (a drain call may take a minute)")
	v.check(f.API.IdleTimeout > 0, "api.idle_timeout", "must be > 0")
	rg := f.Registry
	v.check(rg.LeaseDuration >= Duration(time.Second), "registry.lease_duration", "must be ≥ 1s")
	v.check(rg.RenewalInterval >= Duration(time.Second) && rg.RenewalInterval <= Duration(time.Minute), "registry.renewal_interval",
		"must be 1s to 1m (renewals are counted per minute)")
	v.check(rg.EvictionInterval >= Duration(time.Second), "registry.eviction_interval", "must be ≥ 1s")
	v.check(rg.RenewalPercentThreshold > 0 && rg.RenewalPercentThreshold < 1, "registry.renewal_percent_threshold", "must be in (0, 1)")
}

// eurekaApp is what an app name may hold: it is a path segment of the
// registry's URLs and an XML element name in its answers.
var eurekaApp = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]*$`)

func (v *validator) provider(pr *Provider, p string) {
	l := pr.Local
	if l == nil {
		return
	}
	lp := join(p, "local")
	if len(l.Command) == 0 {
		v.errf(join(lp, "command"), "required: the instance's command line")
	}
	for i, arg := range l.Command {
		v.template(index(join(lp, "command"), i), arg)
	}
	for _, k := range sortedKeys(l.Env) {
		v.template(join(join(lp, "env"), k), l.Env[k])
	}
	v.check(l.LogDir != "", join(lp, "log_dir"), "must not be empty")
	v.check(l.Grace >= 0, join(lp, "grace"), "must be ≥ 0")
	seen := map[string]bool{}
	for i, z := range l.Zones {
		zp := index(join(lp, "zones"), i)
		switch {
		case z == "":
			v.errf(zp, "must not be empty")
		case seen[z]:
			v.errf(zp, "duplicate zone %q", z)
		}
		seen[z] = true
	}
}

func (v *validator) template(p, text string) {
	if _, err := ParseTemplate(p, text); err != nil {
		v.errf(p, "%v", err)
	}
}

func (v *validator) lifecycle(l *Lifecycle, p string) {
	lp := join(p, "launch")
	v.check(l.Launch.Timeout > 0, join(lp, "timeout"), "must be > 0")
	v.check(l.Launch.MaxConcurrent >= 1, join(lp, "max_concurrent"), "must be ≥ 1")
	bp := join(lp, "backoff")
	v.check(l.Launch.Backoff.Initial > 0, join(bp, "initial"), "must be > 0")
	v.check(l.Launch.Backoff.Max >= l.Launch.Backoff.Initial, join(bp, "max"), "must be ≥ initial (%s)", l.Launch.Backoff.Initial)
	v.probe(&l.Launch.Ready, join(lp, "ready"))

	dp := join(p, "drain")
	d := &l.Drain
	actions := 0
	if d.Signal != "" {
		actions++
		if !slices.Contains(drainSignals, d.Signal) {
			v.errf(join(dp, "signal"), "must be one of %s, not %q", strings.Join(drainSignals, ", "), d.Signal)
		}
	}
	if d.HTTP.URL != "" {
		actions++
		v.template(joinKeys(dp, "http.url"), d.HTTP.URL)
		v.template(joinKeys(dp, "http.body"), d.HTTP.Body)
		v.check(d.HTTP.Method != "", joinKeys(dp, "http.method"), "must not be empty")
	}
	v.headers(joinKeys(dp, "http.headers"), d.HTTP.Headers, d.HTTP.URL != "")
	if len(d.Command) > 0 {
		actions++
		for i, arg := range d.Command {
			v.template(index(join(dp, "command"), i), arg)
		}
	}
	if actions > 1 {
		v.errf(dp, "set one drain action: signal, http or command")
	}
	v.probe(&d.Busy, join(dp, "busy"))
	v.check(d.Heartbeat > 0, join(dp, "heartbeat"), "must be > 0")
	v.check(d.Timeout > 0, join(dp, "timeout"), "must be > 0")
	v.check(d.Grace > 0, join(dp, "grace"), "must be > 0")
	v.oneOf(join(dp, "on_timeout"), d.OnTimeout, []string{"continue", "abandon"})

	hp := join(p, "health")
	v.probe(&l.Health.Check, join(hp, "check"))
	v.check(l.Health.Grace >= 0, join(hp, "grace"), "must be ≥ 0")
	v.check(l.Health.Failures >= 1, join(hp, "failures"), "must be ≥ 1")
	v.oneOf(join(p, "select"), l.Select, []string{"oldest", "newest", "zone_balanced", "least_busy"})
	if rg := l.Registry; rg != nil {
		rp := join(p, "registry")
		v.check(eurekaApp.MatchString(rg.App), join(rp, "app"), "must be an app name (letters, digits, '.', '_' and '-', not starting with a digit), not %q", rg.App)
		v.check(rg.Refresh >= 0, join(rp, "refresh"), "must be ≥ 0")
		if rg.Refresh >= 0 && d.Timeout > 0 && rg.Refresh >= d.Timeout {
			// Said where it was written: a default is nobody's mistake.
			at := join(rp, "refresh")
			if !v.has(at) {
				at = join(dp, "timeout")
			}
			v.errf(at, "lifecycle.drain.timeout (%s) must exceed lifecycle.registry.refresh (%s): every drain would time out while clients still send requests", d.Timeout, rg.Refresh)
		}
	}
}

func (v *validator) probe(pr *Probe, p string) {
	if pr.HTTP != "" && len(pr.Command) > 0 {
		v.errf(p, "set http or command, not both")
	}
	if pr.HTTP != "" {
		v.template(join(p, "http"), pr.HTTP)
	}
	if pr.Path != "" && pr.HTTP == "" {
		v.errf(join(p, "path"), "only applies with http")
	}
	v.headers(join(p, "headers"), pr.Headers, pr.HTTP != "")
	for i, arg := range pr.Command {
		v.template(index(join(p, "command"), i), arg)
	}
	v.check(pr.Timeout > 0, join(p, "timeout"), "must be > 0")
}

// headers checks the headers of an HTTP probe or drain request: each a
// header name with one origin for its value, and only with a URL to send
// them to.
func (v *validator) headers(p string, h map[string]Secret, withURL bool) {
	if len(h) > 0 && !withURL {
		v.errf(p, "only applies with http")
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !headerName(k) {
			v.errf(p, "%q is not a valid header name", k)
			continue
		}
		s := h[k]
		var ke *KeyError
		if err := s.Validate(); errors.As(err, &ke) {
			v.errf(join(p, k), "%s", ke.Msg)
		}
	}
}

// headerName reports whether k is an HTTP token (RFC 9110).
func headerName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r < 128 && strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if !ok {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
