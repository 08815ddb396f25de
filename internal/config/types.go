package config

// The configuration tree. Each field carries three tags the rest of the
// package reads by reflection:
//
//	yaml:    the key (",inline" merges a struct's keys into its parent)
//	doc:     one sentence for docs/config.md and the JSON Schema
//	default: a YAML value applied when the key is absent
//	enum:    the accepted strings, comma-separated, for the JSON Schema
//
// Required keys say so in doc ("Required."). Keep the doc sentences short:
// they are the reference users read.

// File is a whole ebb configuration file.
type File struct {
	Store    Store              `yaml:"store" doc:"Where ebb keeps its state (ebb run)."`
	API      API                `yaml:"api" doc:"The HTTP API (ebb run)."`
	Sources  map[string]Plugged `yaml:"sources" doc:"Named connections to the systems signals are read from, keyed by name; each holds one key naming its kind (prometheus, redis, …) with that kind's settings: see docs/sources.md."`
	Groups   []Group            `yaml:"groups" doc:"The groups ebb scales. Required: at least one."`
	Budgets  []Budget           `yaml:"budgets" doc:"Limits shared by several groups, such as database connections."`
	Registry Registry           `yaml:"registry" doc:"The service registry ebb run serves at /eureka, speaking Eureka's REST API: see docs/registry.md."`
}

// Registry tunes the service registry ebb run serves. The defaults are
// Eureka's.
type Registry struct {
	LeaseDuration           Duration `yaml:"lease_duration" default:"90s" doc:"How long an instance stays registered after its last renewal, unless it registered with its own leaseInfo.durationInSecs. ≥ 1s."`
	RenewalInterval         Duration `yaml:"renewal_interval" default:"30s" doc:"How often clients renew; sets the renewals per minute self-preservation expects. 1s to 1m."`
	EvictionInterval        Duration `yaml:"eviction_interval" default:"60s" doc:"How often expired instances are evicted. ≥ 1s."`
	RenewalPercentThreshold float64  `yaml:"renewal_percent_threshold" default:"0.85" doc:"Self-preservation stops evictions while renewals in the last minute are at or below this share of those expected (many leases lapsing at once is more likely a network partition than dead instances); an eviction pass also leaves at least this share of the registry. In (0, 1)."`
	SelfPreservation        bool     `yaml:"self_preservation" default:"true" doc:"false evicts expired instances whatever the renewal rate."`
}

// Store is where ebb keeps its state: an embedded file, or a PostgreSQL
// database shared by several replicas.
type Store struct {
	Path       string    `yaml:"path" default:"ebb.db" doc:"The state file (bbolt); relative paths are relative to the working directory. Not used with postgres."`
	Postgres   *Postgres `yaml:"postgres" doc:"Keep the state in PostgreSQL instead of a file, shared by several ebb run replicas of which one leads and the others serve reads: see docs/ha.md."`
	JournalMax int       `yaml:"journal_max" default:"1000" doc:"Decisions kept per group in the journal."`
	JournalAge Duration  `yaml:"journal_age" default:"168h" doc:"Decisions older than this are dropped from the journal."`
	SignalAge  Duration  `yaml:"signal_age" default:"6h" doc:"How much signal history is kept."`
	SignalMax  int       `yaml:"signal_max" default:"240" doc:"Samples kept per signal of a group, at most: one per signal_age ÷ signal_max (90s by default), however often the group is evaluated."`
}

// Postgres is a store in a PostgreSQL database, with leader election.
type Postgres struct {
	DSN       Secret   `yaml:"dsn" doc:"The connection string (postgres://user@host:5432/db?sslmode=verify-full), usually from env or file since it may hold the password; read again for each new connection. Required."`
	Lease     Duration `yaml:"lease" default:"10s" doc:"How long the lead lasts unless renewed (every third of it): a leader that dies is replaced within about this long."`
	Advertise string   `yaml:"advertise" doc:"The URL other replicas reach this one's API at (http://10.0.0.5:7070), recorded while it leads, so that they forward mutations and pushes to it; default http:// and api.listen."`
	ID        string   `yaml:"id" doc:"This replica's name in the lease; default host name and process ID."`
	Timeout   Duration `yaml:"timeout" default:"10s" doc:"How long each call to the database may take."`
	// KubernetesLease elects by Lease; the database's row then only fences.
	KubernetesLease *KubernetesLease `yaml:"kubernetes_lease" doc:"Elect the leader with a coordination.k8s.io Lease (kubectl get lease shows who leads), timed by lease, instead of the database's lease row; the database still fences every write by the leader's epoch."`
}

// KubernetesLease is the Lease ebb replicas elect their leader with.
type KubernetesLease struct {
	Name       string `yaml:"name" default:"ebb" doc:"The Lease's name; it is created when missing."`
	Namespace  string `yaml:"namespace" default:"default" doc:"The Lease's namespace."`
	Kubeconfig string `yaml:"kubeconfig" doc:"The kubeconfig file. Empty: the in-cluster service account when ebb runs in a Pod, else $KUBECONFIG or ~/.kube/config."`
	Context    string `yaml:"context" doc:"The kubeconfig context; its current context when empty."`
}

// API is ebb's HTTP API.
type API struct {
	Listen    string `yaml:"listen" default:"127.0.0.1:7070" doc:"Address the API listens on; loopback unless you mean otherwise."`
	TokenFile string `yaml:"token_file" doc:"File holding the bearer token mutations need; else the EBB_TOKEN environment variable; with neither, mutations are refused."`
	// The limits below keep idle or slow clients from holding the daemon's
	// file descriptors.
	MaxConnections    int      `yaml:"max_connections" default:"512" doc:"Connections served at once; more wait until one closes."`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout" default:"10s" doc:"How long a client may take to send a request's headers."`
	ReadTimeout       Duration `yaml:"read_timeout" default:"30s" doc:"How long a client may take to send a whole request."`
	WriteTimeout      Duration `yaml:"write_timeout" default:"90s" doc:"How long a request may take from its headers to the end of the answer; above 1m, the longest a drain call waits."`
	IdleTimeout       Duration `yaml:"idle_timeout" default:"60s" doc:"How long an idle keep-alive connection stays open."`
}

// Group is a set of interchangeable instances scaled together.
type Group struct {
	Name      string            `yaml:"name" doc:"Unique name: letters, digits, '-' and '_'. Required."`
	Capacity  Capacity          `yaml:"capacity" doc:"How many instances the group may have."`
	Interval  Duration          `yaml:"interval" default:"15s" doc:"How often the group is evaluated."`
	Signals   map[string]Signal `yaml:"signals" doc:"Named signals the policies read, keyed by name."`
	Policies  []Policy          `yaml:"policies" doc:"What the group's capacity should be. Required: at least one."`
	Behavior  Behavior          `yaml:"behavior" doc:"How recommendations become a decision."`
	Guards    []Guard           `yaml:"guards" doc:"Downstream signals that freeze or cap scale-out."`
	Provider  Provider          `yaml:"provider" doc:"Where instances run (ebb run)."`
	Lifecycle Lifecycle         `yaml:"lifecycle" doc:"How instances start and stop."`
}

// Provider says where a group's instances run: local, or one provider kind
// (kubernetes, aws, ecs, exec, …: see docs/providers.md). A group without
// one can be simulated but not run.
type Provider struct {
	Local *LocalProvider `yaml:"local" doc:"Child processes on this machine."`
	// Kind is a provider kind's key and its typed config.
	Kind Plugged `yaml:",provider"`
}

// LocalProvider runs instances as child processes. Command and env values are
// templates: {{.ID}}, {{.Port}}, {{.Addr}}, {{.Zone}}, {{.Group}}. The
// environment an instance gets is documented in docs/config.md.
type LocalProvider struct {
	Command []string          `yaml:"command" doc:"The instance's command line, one element per argument. Required."`
	Env     map[string]string `yaml:"env" doc:"Environment variables for the instance, templates too. An instance gets only these, EBB_INSTANCE and EBB_ADDR, and from ebb's own environment PATH, HOME, USER, LOGNAME, SHELL, TMPDIR, TZ, LANG and LC_*: nothing else (no EBB_TOKEN, no cloud credentials)."`
	Dir     string            `yaml:"dir" doc:"Working directory; the daemon's when empty."`
	LogDir  string            `yaml:"log_dir" default:"ebb-logs" doc:"Each instance's output goes to LOG_DIR/GROUP/ID.log."`
	Zones   []string          `yaml:"zones" doc:"Zone labels to spread instances over."`
	Grace   Duration          `yaml:"grace" default:"10s" doc:"After SIGTERM, how long to wait before SIGKILL when terminating."`
}

// Capacity bounds a group's size.
type Capacity struct {
	Min     int  `yaml:"min" default:"0" doc:"Fewest instances; 0 lets the group scale to zero."`
	Max     int  `yaml:"max" doc:"Most instances. Required, at least min; 0 drains the group (before it is removed from the config)."`
	Initial *int `yaml:"initial" doc:"Desired capacity when ebb first sees the group; defaults to min."`
}

// Signal is a named numeric time series of a group. Its values are pushed
// (the API, a simulation's CSV), derived by an expression, or read by a
// source kind: one key naming the kind (scrape, http_json, prometheus, …)
// holds what to read, through the source named by source or, for kinds that
// need no connection settings, on its own.
type Signal struct {
	Source    string   `yaml:"source" doc:"The source values come from: push (the API or a simulation's CSV, the default for a signal without expr or a kind key), or a name under sources, whose kind key this signal then holds."`
	Expr      string   `yaml:"expr" doc:"An expression over other signals of the group, e.g. 'max(cpu, mem)' or 'backlog / throughput'; functions rate(x), deriv(x) and avg(x) read the last window of x; ready is the number of ready instances."`
	Window    Duration `yaml:"window" default:"1m" doc:"How far back rate(), deriv() and avg() look when the expression does not say."`
	Stale     Duration `yaml:"stale" default:"1m" doc:"A value older than this counts as missing."`
	Aggregate string   `yaml:"aggregate" default:"avg" enum:"avg,sum,max,min" doc:"How per-instance values (a scrape) become the group's value: avg, sum, max or min, over ready instances past warm-up."`
	Resource  string   `yaml:"resource" enum:"cpu" doc:"cpu: the signal is a CPU utilization, a fraction of each instance's request (1 = 100%); target's hpa mode then applies the Kubernetes rules for the CPU resource metric (not-ready and warming-up instances set aside, missing ones counted at max(100%, target) on a scale-in)."`
	// Read is the kind key: what to read, in the kind's own typed config.
	Read Plugged `yaml:",kind"`
}

// Policy recommends a capacity. Exactly one kind key is set.
type Policy struct {
	Name       string      `yaml:"name" doc:"Label used in explanations; defaults to kind(signal)."`
	Target     *Target     `yaml:"target" doc:"Target tracking: keep a per-instance signal at a value."`
	Step       *Step       `yaml:"step" doc:"Step scaling with AWS semantics."`
	Simple     *Simple     `yaml:"simple" doc:"Add or remove a fixed number when a condition holds."`
	Queue      *Queue      `yaml:"queue" doc:"Size by queue length: items per instance."`
	Streaming  *Streaming  `yaml:"streaming" doc:"Size a streaming job by throughput, backlog and CPU."`
	Schedule   *Schedule   `yaml:"schedule" doc:"Cron windows that set min, max or desired."`
	Predictive *Predictive `yaml:"predictive" doc:"Forecast a load signal from its own daily or weekly history and size ahead of it by the boot time; never scales in on its own."`
	Fixed      *Fixed      `yaml:"fixed" doc:"Always recommend the same capacity."`
}

// Target is target tracking: desired = ceil(current × value ÷ target).
type Target struct {
	Signal string  `yaml:"signal" doc:"Signal holding the per-instance average (e.g. CPU utilization). Required."`
	Value  float64 `yaml:"value" doc:"The value to hold the signal at. Required, > 0."`
	Mode   string  `yaml:"mode" default:"average" enum:"average,hpa" doc:"average: use the group's value; hpa: the Kubernetes replica calculation over per-instance values (not-ready instances and missing values counted conservatively)."`
}

// Step is step scaling: the breach (signal − threshold) picks a step whose
// adjustment is applied.
type Step struct {
	Signal       string           `yaml:"signal" doc:"Signal compared with the threshold. Required."`
	Threshold    float64          `yaml:"threshold" doc:"The alarm threshold; step bounds are relative to it. Required."`
	Adjustment   string           `yaml:"adjustment" default:"change" enum:"change,exact,percent" doc:"change (add the step's value), exact (set capacity to it) or percent (add that percent of current capacity)."`
	MinMagnitude int              `yaml:"min_magnitude" default:"0" doc:"With percent, the smallest change in instances a step makes."`
	Warmup       Duration         `yaml:"warmup" default:"300s" doc:"AWS's instance warm-up: capacity this policy's group added within it still counts toward the current capacity, so a breach in the same step adds nothing more and a larger step adds only the difference. 0s: every evaluation adds its step."`
	Steps        []StepAdjustment `yaml:"steps" doc:"Non-overlapping intervals without gaps. Required: at least one."`
}

// StepAdjustment is one interval of a step policy.
type StepAdjustment struct {
	From   *float64 `yaml:"from" doc:"Lower bound of (signal − threshold); absent means no lower bound."`
	To     *float64 `yaml:"to" doc:"Upper bound of (signal − threshold); absent means no upper bound."`
	Adjust int      `yaml:"adjust" doc:"The step's adjustment: instances, a capacity, or a percent, per the policy's adjustment."`
}

// Simple adds or removes a fixed number of instances when a condition holds for
// M of the last N datapoints.
type Simple struct {
	Signal     string   `yaml:"signal" doc:"Signal the condition reads. Required."`
	Above      *float64 `yaml:"above" doc:"The condition holds when the signal is above this. Exactly one of above and below."`
	Below      *float64 `yaml:"below" doc:"The condition holds when the signal is below this."`
	Change     int      `yaml:"change" doc:"Instances to add (positive) or remove (negative) when the condition holds. Required, not 0."`
	Datapoints MofN     `yaml:"datapoints" doc:"How many of the last datapoints must hold the condition."`
}

// MofN is "M of the last N datapoints".
type MofN struct {
	Need int `yaml:"need" default:"1" doc:"M: datapoints that must agree."`
	Of   int `yaml:"of" default:"1" doc:"N: how many recent datapoints are looked at."`
}

// Queue sizes a group by backlog: desired = ceil(items ÷ per_instance).
type Queue struct {
	Signal      string  `yaml:"signal" doc:"Signal holding the number of items waiting (plus in flight, if you add them). Required."`
	PerInstance float64 `yaml:"per_instance" doc:"Items one instance should have. Required, > 0."`
	Activation  float64 `yaml:"activation" default:"0" doc:"At or below this many items the policy recommends 0; above it, at least 1, so a group at zero wakes on the first item."`
}

// Streaming is the rule for streaming jobs (Flink, Beam, Kafka consumers):
// keep up with input and clear the backlog in time; shrink by CPU only when
// there is nothing to catch up.
type Streaming struct {
	InputRate      string        `yaml:"input_rate" doc:"Signal: records arriving per second. Required."`
	Throughput     string        `yaml:"throughput" doc:"Signal: records processed per second by the whole job. Required."`
	Backlog        string        `yaml:"backlog" doc:"Signal: records waiting. Required."`
	CPU            string        `yaml:"cpu" doc:"Signal: CPU utilization as a fraction (0.9 = 90%). Required."`
	Growth         string        `yaml:"growth" doc:"Signal: backlog growth per second; defaults to input_rate − throughput."`
	CatchUp        Duration      `yaml:"catch_up" default:"60s" doc:"Time within which a scale-up should clear the backlog."`
	CPUTarget      float64       `yaml:"cpu_target" default:"0.8" doc:"CPU utilization sizing aims for when CPU drives the decision."`
	Up             StreamingUp   `yaml:"up" doc:"When to scale up."`
	Down           StreamingDown `yaml:"down" doc:"When to scale down."`
	MinInterval    Duration      `yaml:"min_interval" default:"5m" doc:"Least time between rescales: each one restarts the job from its last checkpoint."`
	MaxParallelism int           `yaml:"max_parallelism" default:"0" doc:"The job's maximum parallelism; the policy never recommends more instances. 0: no bound besides capacity.max."`
}

// StreamingUp holds the scale-up triggers of a streaming policy.
type StreamingUp struct {
	BacklogTime Duration `yaml:"backlog_time" default:"120s" doc:"Scale up when backlog ÷ throughput exceeds this."`
	CPU         float64  `yaml:"cpu" default:"0.9" doc:"Scale up when CPU exceeds this."`
}

// StreamingDown holds the scale-down conditions of a streaming policy; all must
// hold.
type StreamingDown struct {
	BacklogTime Duration `yaml:"backlog_time" default:"10s" doc:"Scale down only when backlog ÷ throughput is below this."`
	CPU         float64  `yaml:"cpu" default:"0.7" doc:"Scale down only when CPU is below this (and backlog growth ≤ 0)."`
}

// Schedule sets min, max or desired during cron windows.
type Schedule struct {
	Timezone string           `yaml:"timezone" default:"UTC" doc:"IANA time zone the cron expressions are read in."`
	Windows  []ScheduleWindow `yaml:"windows" doc:"The windows; when several are active, the largest min, smallest max and largest desired win. Required: at least one."`
}

// ScheduleWindow is one recurring window.
type ScheduleWindow struct {
	Cron     string   `yaml:"cron" doc:"Five-field cron expression for when the window opens. Required."`
	Duration Duration `yaml:"duration" doc:"How long the window stays open. Required, > 0."`
	Min      *int     `yaml:"min" doc:"Capacity floor while open."`
	Max      *int     `yaml:"max" doc:"Capacity ceiling while open."`
	Desired  *int     `yaml:"desired" doc:"Capacity recommended while open."`
}

// Predictive forecasts a load signal from the group's own history (its
// seasonal profile) and sizes the group for the forecast lead from now:
// desired = ceil(forecast ÷ per_instance).
type Predictive struct {
	Signal      string    `yaml:"signal" doc:"A load signal that does not depend on capacity (requests or jobs arriving per second, not CPU utilization), learned and forecast. Required."`
	PerInstance float64   `yaml:"per_instance" doc:"How much of the signal one instance should take. Required, > 0."`
	Season      string    `yaml:"season" default:"weekly" enum:"weekly,daily" doc:"The pattern the forecast repeats: weekly (each hour of the week; the same hour of the day until a week of history exists) or daily (each hour of the day)."`
	Lead        *Duration `yaml:"lead" doc:"How far ahead the forecast looks, so that instances are ready when the load comes; default lifecycle.launch.boot. ≥ 0."`
	History     Duration  `yaml:"history" default:"336h" doc:"How much history the forecast averages (14 days, as AWS predictive scaling): the mean of the same hour over it. At least one season (24h daily, 168h weekly), at most 1344h (8 weeks): ebb keeps one mean per hour."`
	MinHistory  Duration  `yaml:"min_history" default:"24h" doc:"Hours of data needed before the policy forecasts; until then it abstains. The default, a day, is the least that covers every hour of the day once (and what AWS predictive scaling needs)."`
}

// Fixed always recommends the same capacity.
type Fixed struct {
	Desired int `yaml:"desired" doc:"The capacity. Required, ≥ 0."`
}

// Behavior turns recommendations into one decision.
type Behavior struct {
	Up      Up       `yaml:"up" doc:"Rules for scaling out."`
	Down    Down     `yaml:"down" doc:"Rules for scaling in."`
	Missing Missing  `yaml:"missing" default:"hold" doc:"What a policy does when a signal it reads is missing or stale: hold, scale_out, {treat_as: X} or {fallback: N}. hold never scales in."`
	Warmup  Duration `yaml:"warmup" default:"0s" doc:"Instances younger than this are left out of per-instance signals."`
}

// Up is the scale-out half of Behavior.
type Up struct {
	Window        Duration `yaml:"window" default:"0s" doc:"Stabilization: scale out only to the lowest recommendation of this window."`
	Limits        []Limit  `yaml:"limits" default:"[{count: 4, per: 15s}, {percent: 100, per: 15s}]" doc:"How fast capacity may grow."`
	Directional   `yaml:",inline"`
	Effectiveness *Effectiveness `yaml:"effectiveness" doc:"Judge each scale-out by the throughput it brought and stop scaling out after one that brought almost none (the bottleneck is elsewhere: a shared backend, a database). Absent: off."`
}

// Effectiveness is ineffective scale-up detection, after the Flink
// Kubernetes operator's autoscaler: a scale-out from N to M instances
// should raise throughput about M ÷ N-fold; one that raised it by less than
// threshold of that blocks further scale-outs.
type Effectiveness struct {
	Signal    string    `yaml:"signal" doc:"A signal measuring work done per second (records or requests processed, not arriving), which more instances should raise while there is work waiting. Required."`
	Threshold float64   `yaml:"threshold" default:"0.1" doc:"The fraction of the expected rise a scale-out must bring to count as effective: after N → M, the signal must rise by at least threshold × value × (M − N) ÷ N. > 0 and ≤ 1."`
	After     *Duration `yaml:"after" doc:"How long after a scale-out its effect is judged, once the new instances are ready; default lifecycle.launch.boot + behavior.warmup. Add the window of a rate() the signal is computed with. ≥ 0."`
	Block     Duration  `yaml:"block" default:"0s" doc:"How long an ineffective scale-out blocks the next ones at most, unless the signal rises by threshold on its own or the group scales in first; then one scale-out is allowed and judged again. 0s (the default, as Flink's): no time limit: against a bottleneck that stays, every retry would add cost and load."`
}

// Down is the scale-in half of Behavior.
type Down struct {
	Window      Duration `yaml:"window" default:"5m" doc:"Stabilization: scale in only to the highest recommendation of this window."`
	Limits      []Limit  `yaml:"limits" default:"[{percent: 100, per: 15s}]" doc:"How fast capacity may shrink."`
	Directional `yaml:",inline"`
}

// Directional holds the rules Up and Down share.
type Directional struct {
	Select     string   `yaml:"select" default:"max" enum:"max,min,disabled" doc:"Which limit applies when several do: max (the one allowing the most change), min (the least) or disabled (no scaling this way)."`
	Cooldown   Duration `yaml:"cooldown" default:"0s" doc:"Up: least time after a scale-out before the next. Down: least time after any scaling before a scale-in."`
	Tolerance  float64  `yaml:"tolerance" default:"0.1" doc:"Target and queue policies hold while signal ÷ target is within this fraction of 1 on this side."`
	Datapoints MofN     `yaml:"datapoints" doc:"How many of the last evaluations must recommend this direction before it is taken."`
}

// Limit bounds the change over a period, as a count or a percent of capacity
// at the period's start.
type Limit struct {
	Count   int      `yaml:"count" default:"0" doc:"Instances per period. Exactly one of count and percent."`
	Percent float64  `yaml:"percent" default:"0" doc:"Percent of capacity at the start of the period."`
	Per     Duration `yaml:"per" doc:"The period. Required, > 0."`
}

// Guard freezes or caps scale-out while a downstream signal is high.
type Guard struct {
	Signal string  `yaml:"signal" doc:"The downstream signal (throttle rate, connections in use). Required."`
	Above  float64 `yaml:"above" doc:"The guard holds while the signal is above this. Required."`
	Cap    *int    `yaml:"cap" doc:"While holding, capacity may grow up to this; absent: no scale-out at all."`
}

// Budget is a limit several groups share.
type Budget struct {
	Name   string             `yaml:"name" doc:"Name used in explanations. Required."`
	Max    float64            `yaml:"max" doc:"The total the groups may use. Required, > 0."`
	Groups map[string]float64 `yaml:"groups" doc:"Group name → what one of its instances uses. Required."`
}

// Lifecycle describes how instances start and stop.
type Lifecycle struct {
	Launch   Launch         `yaml:"launch" doc:"Starting instances."`
	Drain    Drain          `yaml:"drain" doc:"Stopping instances without losing their work."`
	Health   Health         `yaml:"health" doc:"Replacing instances that stop working."`
	Select   string         `yaml:"select" default:"oldest" enum:"oldest,newest,zone_balanced,least_busy" doc:"Which instances scale-in drains: oldest, newest, zone_balanced (from the fullest zone, oldest first) or least_busy (not busy first, then oldest)."`
	Protect  bool           `yaml:"protect" default:"false" doc:"Never pick this group's instances for scale-in (a coordinator, say); they are still replaced when unhealthy."`
	Registry *GroupRegistry `yaml:"registry" doc:"The group's instances register in ebb's service registry: ready once UP there, unhealthy once their lease expires, and taken OUT_OF_SERVICE before they drain. See docs/registry.md."`
}

// GroupRegistry ties a group's instances to ebb's service registry. Each
// instance registers under App with ebb's instance ID as its instanceId
// (local instances find both, and the registry's URL, in their
// environment: EBB_REGISTRY_URL, EBB_REGISTRY_APP, EBB_INSTANCE_ID).
type GroupRegistry struct {
	App     string   `yaml:"app" doc:"The app the instances register under (Eureka's appName, compared without regard to case). Required."`
	Refresh Duration `yaml:"refresh" default:"30s" doc:"How long after an instance is taken OUT_OF_SERVICE clients may still send it requests from their cached registry (a Eureka client fetches every 30s): a drain waits this long before its drain action and busy probe. ≥ 0, below lifecycle.drain.timeout."`
}

// Launch describes starting instances.
type Launch struct {
	Boot          Duration `yaml:"boot" default:"30s" doc:"How long an instance takes from launch to ready; the simulator uses it."`
	Ready         Probe    `yaml:"ready" doc:"When a launched instance counts as capacity; without a probe, once its process runs."`
	Timeout       Duration `yaml:"timeout" default:"2m" doc:"A launch not ready within this fails: it is stopped and retried with backoff."`
	MaxConcurrent int      `yaml:"max_concurrent" default:"10" doc:"Most launches in flight at once."`
	Backoff       Backoff  `yaml:"backoff" doc:"Delay before retrying after failed launches."`
}

// Backoff is an exponential delay with jitter.
type Backoff struct {
	Initial Duration `yaml:"initial" default:"5s" doc:"Delay after the first failure; it doubles with each failure in a row."`
	Max     Duration `yaml:"max" default:"5m" doc:"The delay never exceeds this."`
}

// Probe asks an instance something: an HTTP GET that must answer 2xx (and,
// with path, whose JSON value at path is read), or a command that must exit 0.
type Probe struct {
	HTTP    string            `yaml:"http" doc:"URL template, e.g. http://{{.Addr}}/healthz."`
	Path    string            `yaml:"path" doc:"With http: a dot-separated path into the JSON answer (busy probes read a boolean or a number)."`
	Headers map[string]Secret `yaml:"headers" doc:"With http: headers sent with the probe, e.g. X-Trino-User: {value: ebb}; values from value, env or file."`
	Command []string          `yaml:"command" doc:"Command template; exit status 0 means yes."`
	Timeout Duration          `yaml:"timeout" default:"5s" doc:"How long one probe may take."`
}

// Drain describes a graceful stop: ask the instance to finish, wait while it
// is busy (heartbeating), then terminate.
type Drain struct {
	Signal    string     `yaml:"signal" doc:"A Unix signal asking the instance to finish, e.g. SIGUSR1 or SIGTERM."`
	HTTP      HTTPAction `yaml:"http" doc:"An HTTP request asking the instance to finish, e.g. Trino's PUT /v1/info/state \"SHUTTING_DOWN\"."`
	Command   []string   `yaml:"command" doc:"A command asking the instance to finish."`
	Busy      Probe      `yaml:"busy" doc:"Whether the instance still works; without a probe, busy while its process runs."`
	Heartbeat Duration   `yaml:"heartbeat" default:"10s" doc:"How often a draining instance is checked (and its drain heartbeated)."`
	Timeout   Duration   `yaml:"timeout" default:"1h" doc:"Longest wait for a busy instance."`
	OnTimeout string     `yaml:"on_timeout" default:"continue" enum:"continue,abandon" doc:"After timeout: continue (terminate it) or abandon (keep it and put it back in service)."`
	Grace     Duration   `yaml:"grace" default:"30s" doc:"With no drain action and no busy probe, draining is a graceful stop: SIGTERM, then SIGKILL if the process still runs after this long (timeout and on_timeout do not apply). Unlike provider.local.grace, the wait does not block ebb: it is checked at every heartbeat."`
}

// HTTPAction is one HTTP request.
type HTTPAction struct {
	Method  string            `yaml:"method" default:"PUT" doc:"HTTP method."`
	URL     string            `yaml:"url" doc:"URL template, e.g. http://{{.Addr}}/v1/info/state."`
	Body    string            `yaml:"body" doc:"Request body."`
	Headers map[string]Secret `yaml:"headers" doc:"Headers sent with the request, e.g. X-Trino-User: {value: ebb} for Trino's shutdown; values from value, env or file."`
}

// Health describes how unhealthy instances are found.
type Health struct {
	Check    Probe    `yaml:"check" doc:"A probe that must pass; without one, an instance is healthy while its process runs."`
	Grace    Duration `yaml:"grace" default:"30s" doc:"Checks are not held against an instance this soon after it became ready."`
	Failures int      `yaml:"failures" default:"3" doc:"Failed checks in a row that make an instance unhealthy."`
}
