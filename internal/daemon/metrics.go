package daemon

import (
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/fleet"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// metrics are ebb's own Prometheus metrics: events counted as they happen,
// and the state of every group read at scrape time (groupCollector). Every
// metric is listed in docs/api.md.
type metrics struct {
	reg        *prometheus.Registry
	tickTime   prometheus.Histogram
	readTime   *prometheus.HistogramVec
	readErrors *prometheus.CounterVec
	callTime   *prometheus.HistogramVec
	callFails  *prometheus.CounterVec
	drainTime  *prometheus.HistogramVec
	decisions  *prometheus.CounterVec
	reloads    *prometheus.CounterVec
}

// latencyBuckets cover a fast loopback call (1 ms) to a read that hits its
// timeout (a minute).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tickTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ebb_tick_duration_seconds", Help: "Time one tick of the decision loop took: deciding the due groups and recording the decisions.",
			Buckets: latencyBuckets,
		}),
		readTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ebb_source_read_duration_seconds", Help: "Time one attempt to read a signal took, by source kind and result (ok, error).",
			Buckets: latencyBuckets,
		}, []string{"source", "result"}),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_signal_read_errors_total", Help: "Signal reads that failed after their retries, by group and signal.",
		}, []string{"group", "signal"}),
		callTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ebb_provider_call_duration_seconds", Help: "Time one provider call took, by provider kind (local, kubernetes, aws, ecs, exec), operation (launch, terminate, observe, set_desired, remove, …) and result (ok, error).",
			Buckets: latencyBuckets,
		}, []string{"kind", "op", "result"}),
		callFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_provider_call_failures_total", Help: "Provider calls that failed, by provider kind and operation.",
		}, []string{"kind", "op"}),
		drainTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ebb_drain_duration_seconds", Help: "Time from the start of a drain to its end, by how it ended.",
			Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_decisions_total", Help: "Decisions made, by group and direction (up, down, hold).",
		}, []string{"group", "direction"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ebb_config_reloads_total", Help: "Configuration reloads, by result (ok, rejected).",
		}, []string{"result"}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("rejected")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tickTime, m.readTime, m.readErrors, m.callTime, m.callFails, m.drainTime, m.decisions, m.reloads,
		groupCollector{d},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ebb_leader", Help: "1 while this ebb leads (always, on a state file), 0 while it follows the replica that does.",
		}, func() float64 {
			if d.st != nil && d.st.Leader().Self {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ebb_leader_epoch", Help: "The term of the leader this ebb knows of; it grows at each new leader (0 on a state file).",
		}, func() float64 {
			if d.st == nil {
				return 0
			}
			return float64(d.st.Leader().Epoch)
		}),
	)
	return m
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *metrics) tick(d time.Duration) { m.tickTime.Observe(d.Seconds()) }

func (m *metrics) sourceRead(kind string, d time.Duration, err error) {
	m.readTime.WithLabelValues(kind, result(err)).Observe(d.Seconds())
}

func (m *metrics) decided(d *model.Decision) {
	m.decisions.WithLabelValues(d.Group, d.Direction.String()).Inc()
}

func (m *metrics) reloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("rejected").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
}

// provider returns the fleet.Observer of a group whose provider is of
// kind: its calls are labelled with it.
func (m *metrics) provider(kind string) fleet.Observer { return providerMetrics{m: m, kind: kind} }

// kindOf is the name of a group's provider kind: local, or the key under
// its provider.
func kindOf(gc config.Group) string {
	if gc.Provider.Local != nil {
		return "local"
	}
	return gc.Provider.Kind.Kind
}

// providerMetrics is the fleet.Observer of the groups of one provider kind.
type providerMetrics struct {
	m    *metrics
	kind string
}

// ProviderCall implements fleet.Observer.
func (p providerMetrics) ProviderCall(op string, d time.Duration, err error) {
	p.m.callTime.WithLabelValues(p.kind, op, result(err)).Observe(d.Seconds())
	if err != nil {
		p.m.callFails.WithLabelValues(p.kind, op).Inc()
	}
}

// DrainEnded implements fleet.Observer.
func (p providerMetrics) DrainEnded(d time.Duration, how string) {
	p.m.drainTime.WithLabelValues(how).Observe(d.Seconds())
}

// Metrics serves /metrics.
func (d *Daemon) Metrics() http.Handler {
	return promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// groupCollector reports every group's state at scrape time.
type groupCollector struct{ d *Daemon }

var (
	descDesired = prometheus.NewDesc("ebb_group_desired_capacity",
		"The capacity the engine decided.", []string{"group"}, nil)
	descInstances = prometheus.NewDesc("ebb_group_instances",
		"Instances by lifecycle state (launching, in_service, draining, terminating).", []string{"group", "state"}, nil)
	descDecided = prometheus.NewDesc("ebb_group_last_decision_timestamp_seconds",
		"When the group was last decided (Unix time).", []string{"group"}, nil)
	descStalled = prometheus.NewDesc("ebb_group_stalled",
		"1 while the group is overdue for a decision: its signal reads are still running past its interval.", []string{"group"}, nil)
	descMissing = prometheus.NewDesc("ebb_signal_missing",
		"1 when the group's last decision found the signal missing or stale.", []string{"group", "signal"}, nil)
	descFailing = prometheus.NewDesc("ebb_signal_failing",
		"1 while the signal's latest read failed.", []string{"group", "signal"}, nil)
	descConditions = prometheus.NewDesc("ebb_group_conditions",
		"Conditions the group shows in ebb status (stale or failing signals, stalled reads, a guard holding scale-out, failing launches or drains).", []string{"group"}, nil)
	descSourceUp = prometheus.NewDesc("ebb_source_up",
		"1 unless the source's latest call failed (after its retries).", []string{"source", "kind"}, nil)
	descSourceCalls = prometheus.NewDesc("ebb_source_calls_total",
		"Calls made to the source's backend, each attempt counted.", []string{"source", "kind"}, nil)
	descSourceFailures = prometheus.NewDesc("ebb_source_call_failures_total",
		"Calls to the source's backend that failed, each attempt counted.", []string{"source", "kind"}, nil)
	descSourceOK = prometheus.NewDesc("ebb_source_last_success_timestamp_seconds",
		"When a call to the source last succeeded (Unix time).", []string{"source", "kind"}, nil)
	descTicked = prometheus.NewDesc("ebb_last_tick_timestamp_seconds",
		"When the decision loop last finished a tick (Unix time); /readyz fails when it is stuck.", nil, nil)
)

func (c groupCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c groupCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	now := d.opt.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.groups))
	for n := range d.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	if t := d.ticked.Load(); t != 0 {
		gauge(descTicked, float64(t)/1e9)
	}
	for _, name := range sortedKeys(d.sources) {
		h := d.sources[name].src.Health()
		gauge(descSourceUp, boolean(!h.Failing), h.Name, h.Kind)
		ch <- prometheus.MustNewConstMetric(descSourceCalls, prometheus.CounterValue, float64(h.Calls), h.Name, h.Kind)
		ch <- prometheus.MustNewConstMetric(descSourceFailures, prometheus.CounterValue, float64(h.Failures), h.Name, h.Kind)
		if !h.LastOK.IsZero() {
			gauge(descSourceOK, float64(h.LastOK.UnixNano())/1e9, h.Name, h.Kind)
		}
	}
	for _, n := range names {
		g := d.groups[n]
		gauge(descDesired, float64(d.eng.States[g.index].Desired), n)
		if g.rec != nil {
			s := g.status
			gauge(descInstances, float64(s.Launching), n, "launching")
			gauge(descInstances, float64(s.InService), n, "in_service")
			gauge(descInstances, float64(s.Draining), n, "draining")
			gauge(descInstances, float64(s.Terminating), n, "terminating")
		}
		if t, ok := d.decided[n]; ok {
			gauge(descDecided, float64(t.UnixNano())/1e9, n)
		}
		gauge(descStalled, boolean(d.stalled(n, now) != ""), n)
		if dec, ok := d.last[n]; ok {
			for _, in := range dec.Inputs {
				gauge(descMissing, boolean(in.Missing), n, in.Name)
			}
		}
		for sig, h := range d.health[n] {
			gauge(descFailing, boolean(h.err != ""), n, sig)
		}
		gauge(descConditions, float64(len(d.conditions(n, now))), n)
	}
}
