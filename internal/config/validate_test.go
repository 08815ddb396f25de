package config

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// web is the start of a config whose first group is missing only its
// policies; case lines start at line 5.
const web = `groups:
  - name: web
    capacity: {max: 4}
    signals: {cpu: {}, queue: {}}
`

// cpuPolicy is a valid policy list for cases about other keys.
const cpuPolicy = "    policies: [{target: {signal: cpu, value: 0.5}}]\n"

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "no groups",
			src:  "budgets: []\n",
			want: []string{
				`ebb.yaml:1:1: groups: required: at least one group`,
			},
		},
		{
			name: "postgres store",
			src: `store:
  postgres:
    lease: 2s
    advertise: "ftp://x"
    kubernetes_lease: {name: "Ebb!", namespace: "a.b"}
groups:
  - {name: web, capacity: {max: 1}, policies: [{fixed: {desired: 1}}]}
`,
			want: []string{
				`ebb.yaml:2:3: store.postgres.dsn: required: the database's connection string (from env or file)`,
				`ebb.yaml:2:3: store.postgres.timeout: must be > 0 and ≤ the lease (2s), not 10s`,
				`ebb.yaml:3:12: store.postgres.lease: must be ≥ 3s (it is renewed every third of it)`,
				`ebb.yaml:4:16: store.postgres.advertise: must be an http or https URL of the API, such as http://10.0.0.5:7070, not "ftp://x"`,
				`ebb.yaml:5:30: store.postgres.kubernetes_lease.name: must be a Kubernetes object name (lower case letters, digits, '-' and '.'), not "Ebb!"`,
				`ebb.yaml:5:49: store.postgres.kubernetes_lease.namespace: must be a namespace name (lower case letters, digits and '-'), not "a.b"`,
			},
		},
		{
			name: "registry",
			src: `registry: {lease_duration: 0s, renewal_interval: 2m, eviction_interval: 500ms, renewal_percent_threshold: 1}
groups:
  - name: web
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
    lifecycle: {registry: {app: "9 lives"}}
  - name: api
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
    lifecycle: {drain: {timeout: 20s}, registry: {app: API}}
`,
			want: []string{
				`ebb.yaml:1:28: registry.lease_duration: must be ≥ 1s`,
				`ebb.yaml:1:50: registry.renewal_interval: must be 1s to 1m (renewals are counted per minute)`,
				`ebb.yaml:1:73: registry.eviction_interval: must be ≥ 1s`,
				`ebb.yaml:1:107: registry.renewal_percent_threshold: must be in (0, 1)`,
				`ebb.yaml:6:33: groups[0].lifecycle.registry.app: must be an app name (letters, digits, '.', '_' and '-', not starting with a digit), not "9 lives"`,
				`ebb.yaml:10:34: groups[1].lifecycle.drain.timeout: lifecycle.drain.timeout (20s) must exceed lifecycle.registry.refresh (30s): every drain would time out while clients still send requests`,
			},
		},
		{
			name: "boot longer than the launch timeout",
			src: `groups:
  - name: web
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
    lifecycle: {launch: {boot: 5m}}
  - name: api
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
    lifecycle: {launch: {boot: 5m, timeout: 5m}}
`,
			want: []string{
				`ebb.yaml:5:17: groups[0].lifecycle.launch.timeout: 2m must exceed lifecycle.launch.boot (5m): every launch would time out before it is ready`,
				`ebb.yaml:9:45: groups[1].lifecycle.launch.timeout: 5m must exceed lifecycle.launch.boot (5m): every launch would time out before it is ready`,
			},
		},
		{
			name: "group names",
			src: `groups:
  - {name: web, capacity: {max: 1}, policies: [{fixed: {desired: 1}}]}
  - {name: web, capacity: {max: 1}, policies: [{fixed: {desired: 1}}]}
  - {name: -api, capacity: {max: 1}, policies: [{fixed: {desired: 1}}]}
  - {capacity: {max: 1}, policies: [{fixed: {desired: 1}}]}
`,
			want: []string{
				`ebb.yaml:3:12: groups[1].name: duplicate group name "web" (also groups[0])`,
				`ebb.yaml:4:12: groups[2].name: invalid name "-api": use letters, digits, '-' and '_', starting with a letter or digit`,
				`ebb.yaml:5:5: groups[3].name: required`,
			},
		},
		{
			name: "capacity",
			src: `groups:
  - {name: a, capacity: {max: -1}, policies: [{fixed: {desired: 1}}]}
  - {name: b, capacity: {min: -1, max: 2}, policies: [{fixed: {desired: 1}}]}
  - {name: c, capacity: {min: 3, max: 2}, policies: [{fixed: {desired: 1}}]}
  - {name: d, capacity: {min: 1, max: 2, initial: 3}, policies: [{fixed: {desired: 1}}]}
  - {name: e, policies: [{fixed: {desired: 1}}]}
  - {name: f, capacity: {max: 1}, interval: 0s, policies: [{fixed: {desired: 1}}]}
`,
			want: []string{
				`ebb.yaml:2:31: groups[0].capacity.max: must be ≥ 0`,
				`ebb.yaml:3:31: groups[1].capacity.min: must be ≥ 0`,
				`ebb.yaml:4:31: groups[2].capacity.min: must be ≤ max (2)`,
				`ebb.yaml:5:51: groups[3].capacity.initial: must be between min (1) and max (2)`,
				`ebb.yaml:6:5: groups[4].capacity.max: required`,
				`ebb.yaml:7:45: groups[5].interval: must be > 0`,
			},
		},
		{
			name: "runtime, provider and lifecycle",
			src: `store: {path: "", journal_max: 0}
api: {listen: "7070", max_connections: 0, read_header_timeout: 0s, read_timeout: 0s, write_timeout: 1m, idle_timeout: 0s}
groups:
  - name: web
    capacity: {max: 4}
    signals: {cpu: {}}
    provider:
      local: {command: [./worker, "{{.Prot}}"], zones: [a, a]}
    lifecycle:
      launch: {max_concurrent: 0, ready: {http: "http://{{.Addr}}/ready", command: [true]}}
      drain: {signal: SIGKILL, command: [stop], on_timeout: wait, grace: 0s}
      health: {failures: 0, check: {path: busy}}
      select: random
` + cpuPolicy,
			want: []string{
				`ebb.yaml:1:15: store.path: must not be empty`,
				`ebb.yaml:1:32: store.journal_max: must be ≥ 1`,
				`ebb.yaml:2:15: api.listen: must be host:port, such as 127.0.0.1:7070, not "7070"`,
				`ebb.yaml:2:40: api.max_connections: must be ≥ 1`,
				`ebb.yaml:2:64: api.read_header_timeout: must be > 0`,
				`ebb.yaml:2:82: api.read_timeout: must be > 0`,
				`ebb.yaml:2:101: api.write_timeout: must be > 1m (a drain call may take a minute)`,
				`ebb.yaml:2:119: api.idle_timeout: must be > 0`,
				`ebb.yaml:8:35: groups[0].provider.local.command[1]: invalid template (fields: .ID .Group .Zone .Port .Addr): template: groups[0].provider.local.command[1]:1:2: executing "groups[0].provider.local.command[1]" at <.Prot>: can't evaluate field Prot in type config.TemplateData`,
				`ebb.yaml:8:60: groups[0].provider.local.zones[1]: duplicate zone "a"`,
				`ebb.yaml:10:32: groups[0].lifecycle.launch.max_concurrent: must be ≥ 1`,
				`ebb.yaml:10:35: groups[0].lifecycle.launch.ready: set http or command, not both`,
				`ebb.yaml:11:7: groups[0].lifecycle.drain: set one drain action: signal, http or command`,
				`ebb.yaml:11:23: groups[0].lifecycle.drain.signal: must be one of SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGQUIT, not "SIGKILL"`,
				`ebb.yaml:11:61: groups[0].lifecycle.drain.on_timeout: must be one of continue, abandon, not "wait"`,
				`ebb.yaml:11:74: groups[0].lifecycle.drain.grace: must be > 0`,
				`ebb.yaml:12:26: groups[0].lifecycle.health.failures: must be ≥ 1`,
				`ebb.yaml:12:43: groups[0].lifecycle.health.check.path: only applies with http`,
				`ebb.yaml:13:15: groups[0].lifecycle.select: must be one of oldest, newest, zone_balanced, least_busy, not "random"`,
			},
		},
		{
			name: "drain and probe headers",
			src: `groups:
  - name: web
    capacity: {max: 4}
    signals: {cpu: {}}
    lifecycle:
      drain:
        http: {url: "http://{{.Addr}}/v1/info/state", body: '"SHUTTING_DOWN"', headers: {X-Trino-User: {}, "Bad Name": {value: x}}}
        busy: {http: "http://{{.Addr}}/v1/status", headers: {X-Key: {value: a, env: B}}}
      health: {check: {command: [true], headers: {X-Key: {value: a}}}}
` + cpuPolicy,
			want: []string{
				`ebb.yaml:7:80: groups[0].lifecycle.drain.http.headers: "Bad Name" is not a valid header name`,
				`ebb.yaml:7:90: groups[0].lifecycle.drain.http.headers.X-Trino-User: exactly one of value, env and file, not 0`,
				`ebb.yaml:8:62: groups[0].lifecycle.drain.busy.headers.X-Key: exactly one of value, env and file, not 2`,
				`ebb.yaml:9:41: groups[0].lifecycle.health.check.headers: only applies with http`,
			},
		},
		{
			name: "signals",
			src: `groups:
  - name: web
    capacity: {max: 4}
    signals:
      cpu: {source: prom}
      1st: {}
      both: {source: push, expr: cpu}
      busy: {expr: "max(cpu, mem)"}
      broken: {expr: "cpu +"}
      q: {window: 0s, stale: 0s, aggregate: median}
      ready: {}
      fetched: {fetch: {url: "{{.Nope}}"}}
` + cpuPolicy,
			want: []string{
				`ebb.yaml:5:21: groups[0].signals.cpu.source: unknown source "prom" (defined: push)`,
				`ebb.yaml:6:7: groups[0].signals.1st: invalid signal name "1st": use letters, digits and '_', not starting with a digit`,
				`ebb.yaml:7:7: groups[0].signals.both: a derived signal (expr) takes no source`,
				`ebb.yaml:8:20: groups[0].signals.busy.expr: unknown signal "mem" (declared: 1st, both, broken, busy, cpu, fetched, q, ready)`,
				`ebb.yaml:9:22: groups[0].signals.broken.expr: invalid expression: unexpected token EOF (1:5)`,
				`ebb.yaml:10:19: groups[0].signals.q.window: must be > 0`,
				`ebb.yaml:10:30: groups[0].signals.q.stale: must be > 0`,
				`ebb.yaml:10:45: groups[0].signals.q.aggregate: must be one of avg, sum, max, min, not "median"`,
				`ebb.yaml:11:7: groups[0].signals.ready: "ready" is reserved: expressions read it as the number of ready instances`,
				`ebb.yaml:12:17: groups[0].signals.fetched.fetch.path: required`,
				`ebb.yaml:12:30: groups[0].signals.fetched.fetch.url: invalid template (fields: .ID .Group .Zone .Port .Addr): template: url:1:2: executing "url" at <.Nope>: can't evaluate field Nope in type config.TemplateData`,
			},
		},
		{
			name: "derived signal cycles",
			src: web[:len(web)-len("    signals: {cpu: {}, queue: {}}\n")] + `    signals:
      a: {expr: "b + 1"}
      b: {expr: "max(a, c)"}
      c: {expr: "avg(c)"}
      d: {expr: "a"}
` + "    policies: [{target: {signal: d, value: 1}}]\n",
			want: []string{
				`ebb.yaml:5:17: groups[0].signals.a.expr: derived signals form a cycle: a → b → a`,
				`ebb.yaml:7:17: groups[0].signals.c.expr: derived signals form a cycle: c → c`,
			},
		},
		{
			name: "policy kinds and names",
			src: web + `    policies:
      - {}
      - {target: {signal: cpu, value: 1}, queue: {signal: queue, per_instance: 5}}
      - {target: {signal: cpu, value: 2}}
      - {name: q, queue: {signal: queue, per_instance: 5}}
      - {name: q, fixed: {desired: 1}}
`,
			want: []string{
				`ebb.yaml:6:9: groups[0].policies[0]: must set one of target, step, simple, queue, streaming, schedule, predictive, fixed`,
				`ebb.yaml:7:9: groups[0].policies[1]: sets target and queue; a policy has exactly one kind`,
				`ebb.yaml:8:9: groups[0].policies[2]: duplicate policy name "target(cpu)" (also policies[1]); set name to tell them apart`,
				`ebb.yaml:10:16: groups[0].policies[4].name: duplicate policy name "q" (also policies[3]); set name to tell them apart`,
			},
		},
		{
			name: "predictive",
			src: web + `    policies:
      - predictive: {per_instance: 0}
      - predictive: {signal: queue, per_instance: -5, season: monthly, lead: -1m}
      - predictive: {signal: cpu, per_instance: 10, season: weekly, history: 72h, min_history: 96h}
      - predictive: {signal: queue, per_instance: 10, season: daily, history: 2000h, min_history: -1h}
        name: q2
`,
			want: []string{
				"ebb.yaml:6:9: groups[0].policies[0].predictive.signal: required: one of the group's signals (declared: cpu, queue)",
				"ebb.yaml:6:36: groups[0].policies[0].predictive.per_instance: must be > 0",
				"ebb.yaml:7:51: groups[0].policies[1].predictive.per_instance: must be > 0",
				`ebb.yaml:7:63: groups[0].policies[1].predictive.season: must be one of weekly, daily, not "monthly"`,
				"ebb.yaml:7:78: groups[0].policies[1].predictive.lead: must not be negative",
				"ebb.yaml:8:78: groups[0].policies[2].predictive.history: must be ≥ 168h (one season) with season: weekly",
				"ebb.yaml:8:96: groups[0].policies[2].predictive.min_history: must be ≤ history (72h)",
				"ebb.yaml:9:79: groups[0].policies[3].predictive.history: must be ≤ 1344h (8 weeks)",
				"ebb.yaml:9:99: groups[0].policies[3].predictive.min_history: must not be negative",
			},
		},
		{
			name: "signal references",
			src: web + `    policies:
      - target: {signal: cpux, value: 1}
      - queue: {per_instance: 1}
    guards: [{signal: db, above: 1}]
  - name: api
    capacity: {max: 4}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{
				`ebb.yaml:6:26: groups[0].policies[0].target.signal: unknown signal "cpux" (declared: cpu, queue)`,
				`ebb.yaml:7:9: groups[0].policies[1].queue.signal: required: one of the group's signals (declared: cpu, queue)`,
				`ebb.yaml:8:23: groups[0].guards[0].signal: unknown signal "db" (declared: cpu, queue)`,
				`ebb.yaml:11:34: groups[1].policies[0].target.signal: unknown signal "cpu" (the group declares no signals)`,
			},
		},
		{
			name: "target and queue values",
			src: web + `    policies:
      - target: {signal: cpu, value: 0, mode: keda}
      - target: {signal: queue}
      - queue: {signal: queue, per_instance: -1, activation: -1}
`,
			want: []string{
				`ebb.yaml:6:38: groups[0].policies[0].target.value: must be > 0`,
				`ebb.yaml:6:47: groups[0].policies[0].target.mode: must be one of average, hpa, not "keda"`,
				`ebb.yaml:7:9: groups[0].policies[1].target.value: required, must be > 0`,
				`ebb.yaml:8:46: groups[0].policies[2].queue.per_instance: must be > 0`,
				`ebb.yaml:8:62: groups[0].policies[2].queue.activation: must be ≥ 0`,
			},
		},
		{
			name: "step structure",
			src: web + `    policies:
      - step:
          signal: cpu
          adjustment: delta
          min_magnitude: 2
          steps: []
      - name: s2
        step:
          signal: cpu
          threshold: 0.5
          steps:
            - {adjust: 1}
            - {from: 0.2, to: 0.1, adjust: 1}
            - {to: 0.3, adjust: 1}
            - {to: 0.4, adjust: 1}
`,
			want: []string{
				`ebb.yaml:6:9: groups[0].policies[0].step.threshold: required`,
				`ebb.yaml:8:23: groups[0].policies[0].step.adjustment: must be one of change, exact, percent, not "delta"`,
				`ebb.yaml:9:26: groups[0].policies[0].step.min_magnitude: only applies with adjustment: percent`,
				`ebb.yaml:10:11: groups[0].policies[0].step.steps: required: at least one step`,
				`ebb.yaml:16:15: groups[0].policies[1].step.steps[0]: set from, to or both: a step cannot be unbounded on both sides`,
				`ebb.yaml:17:31: groups[0].policies[1].step.steps[1].to: must be > from (0.2)`,
				`ebb.yaml:18:15: groups[0].policies[1].step.steps[2]: only one step may leave out from`,
				`ebb.yaml:19:15: groups[0].policies[1].step.steps[3]: only one step may leave out from`,
			},
		},
		{
			name: "step gaps, overlaps and sides",
			src: web + `    policies:
      - name: gap
        step:
          signal: cpu
          threshold: 0.5
          steps: [{from: 0, to: 0.1, adjust: 1}, {from: 0.2, adjust: 2}]
      - name: overlap
        step:
          signal: cpu
          threshold: 0.5
          steps: [{from: 0, to: 0.3, adjust: 1}, {from: 0.2, adjust: 2}]
      - name: sides
        step:
          signal: cpu
          threshold: 0.5
          steps: [{to: -0.1, adjust: -1}, {from: -0.1, to: 0.1, adjust: 0}, {from: 0.1, adjust: 1}]
      - name: open
        step:
          signal: cpu
          threshold: 0.5
          steps: [{from: 0, to: 0.1, adjust: 1}]
`,
			want: []string{
				`ebb.yaml:10:57: groups[0].policies[0].step.steps[1].from: leaves a gap after steps[0], which ends at 0.1`,
				`ebb.yaml:15:50: groups[0].policies[1].step.steps[1]: overlaps steps[0]`,
				`ebb.yaml:20:11: groups[0].policies[2].step.steps: steps must all lie on one side of the threshold: every bound ≥ 0 (scale out) or every bound ≤ 0 (scale in)`,
				`ebb.yaml:25:11: groups[0].policies[3].step.steps: one step must leave out to, so that every breach above the highest bound matches a step`,
			},
		},
		{
			name: "step adjustments",
			src: web + `    policies:
      - name: exact
        step:
          signal: cpu
          threshold: 0.5
          adjustment: exact
          steps: [{from: 0, adjust: -1}]
      - name: band
        step:
          signal: cpu
          threshold: 0.5
          steps: [{from: 0, to: 0.1, adjust: 0}, {from: 0.1, to: 0.2, adjust: 0}, {from: 0.2, adjust: 1}]
      - name: zeros
        step:
          signal: cpu
          threshold: 0.5
          adjustment: percent
          steps: [{to: 0, adjust: 0}]
      - name: down-band
        step:
          signal: cpu
          threshold: 0.5
          steps: [{to: -0.2, adjust: -2}, {from: -0.2, to: 0, adjust: 0}]
`,
			want: []string{
				`ebb.yaml:11:37: groups[0].policies[0].step.steps[0].adjust: must be ≥ 0 with adjustment: exact`,
				`ebb.yaml:16:79: groups[0].policies[1].step.steps[1].adjust: must not be 0 (only the step next to the threshold may be 0, as a dead band)`,
				`ebb.yaml:22:11: groups[0].policies[2].step.steps: every step adjusts by 0, so the policy never scales`,
			},
		},
		{
			name: "simple",
			src: web + `    policies:
      - simple: {signal: cpu, change: 0}
      - name: both
        simple: {signal: cpu, above: 1, below: 0.5, change: 1, datapoints: {need: 0, of: 65}}
      - name: mofn
        simple: {signal: cpu, above: 1, change: 1, datapoints: {need: 3, of: 2}}
`,
			want: []string{
				`ebb.yaml:6:9: groups[0].policies[0].simple: set exactly one of above and below`,
				`ebb.yaml:6:39: groups[0].policies[0].simple.change: must not be 0`,
				`ebb.yaml:8:9: groups[0].policies[1].simple: set exactly one of above and below`,
				`ebb.yaml:8:83: groups[0].policies[1].simple.datapoints.need: must be ≥ 1`,
				`ebb.yaml:8:90: groups[0].policies[1].simple.datapoints.of: must be ≤ 64`,
				`ebb.yaml:10:78: groups[0].policies[2].simple.datapoints.of: must be ≥ need (3)`,
			},
		},
		{
			name: "streaming",
			src: web + `    policies:
      - streaming:
          input_rate: cpu
          backlog: queue
          cpu: cpu
          growth: slope
          catch_up: 0s
          cpu_target: 1.5
          up: {cpu: 1.2, backlog_time: 5s}
          down: {cpu: 0}
          max_parallelism: -1
      - name: s2
        streaming:
          {input_rate: cpu, throughput: cpu, backlog: queue, cpu: cpu, up: {cpu: 0.5}, down: {cpu: 0.6}}
`,
			want: []string{
				`ebb.yaml:6:9: groups[0].policies[0].streaming.throughput: required: one of the group's signals (declared: cpu, queue)`,
				`ebb.yaml:10:19: groups[0].policies[0].streaming.growth: unknown signal "slope" (declared: cpu, queue)`,
				`ebb.yaml:11:21: groups[0].policies[0].streaming.catch_up: must be > 0`,
				`ebb.yaml:12:23: groups[0].policies[0].streaming.cpu_target: must be > 0 and ≤ 1`,
				`ebb.yaml:13:21: groups[0].policies[0].streaming.up.cpu: must be ≤ 1`,
				`ebb.yaml:14:11: groups[0].policies[0].streaming.down.backlog_time: must be < up.backlog_time (5s)`,
				`ebb.yaml:14:23: groups[0].policies[0].streaming.down.cpu: must be > 0`,
				`ebb.yaml:15:28: groups[0].policies[0].streaming.max_parallelism: must be ≥ 0`,
				`ebb.yaml:18:100: groups[0].policies[1].streaming.down.cpu: must be < up.cpu (0.5)`,
			},
		},
		{
			name: "schedule and fixed",
			src: web + `    policies:
      - schedule:
          timezone: Mars/Olympus
          windows: []
      - name: s2
        schedule:
          timezone: Local
          windows:
            - {cron: "0 9 * *", duration: 0s, min: 3, max: 2}
            - {cron: "TZ=UTC 0 9 * * *", duration: 1h}
            - {duration: 1h, desired: -1}
      - fixed: {desired: -1}
      - name: f2
        fixed: {}
`,
			want: []string{
				`ebb.yaml:7:21: groups[0].policies[0].schedule.timezone: unknown time zone "Mars/Olympus": use an IANA name such as Europe/Berlin`,
				`ebb.yaml:8:11: groups[0].policies[0].schedule.windows: required: at least one window`,
				`ebb.yaml:11:21: groups[0].policies[1].schedule.timezone: must name an IANA time zone such as Europe/Berlin, not the host's Local`,
				`ebb.yaml:13:22: groups[0].policies[1].schedule.windows[0].cron: invalid cron expression: expected exactly 5 fields, found 4: [0 9 * *]`,
				`ebb.yaml:13:43: groups[0].policies[1].schedule.windows[0].duration: must be > 0`,
				`ebb.yaml:13:52: groups[0].policies[1].schedule.windows[0].min: must be ≤ max (2)`,
				`ebb.yaml:14:15: groups[0].policies[1].schedule.windows[1]: set at least one of min, max and desired`,
				`ebb.yaml:14:22: groups[0].policies[1].schedule.windows[1].cron: set the time zone with timezone, not in the cron expression`,
				`ebb.yaml:15:15: groups[0].policies[1].schedule.windows[2].cron: required: a five-field cron expression such as "0 9 * * MON-FRI"`,
				`ebb.yaml:15:39: groups[0].policies[1].schedule.windows[2].desired: must be ≥ 0`,
				`ebb.yaml:16:26: groups[0].policies[2].fixed.desired: must be ≥ 0`,
				`ebb.yaml:18:9: groups[0].policies[3].fixed.desired: required`,
			},
		},
		{
			name: "behavior",
			src: web + cpuPolicy + `    behavior:
      up:
        limits: [{count: 1, percent: 10, per: 1m}, {per: 0s}, {count: -1, per: 1m}]
        select: most
        tolerance: 1
        datapoints: {need: 2}
      down:
        limits: [{percent: 10}]
        tolerance: -0.1
`,
			want: []string{
				`ebb.yaml:8:18: groups[0].behavior.up.limits[0]: set count or percent, not both`,
				`ebb.yaml:8:52: groups[0].behavior.up.limits[1]: set count or percent (> 0)`,
				`ebb.yaml:8:58: groups[0].behavior.up.limits[1].per: must be > 0`,
				`ebb.yaml:8:71: groups[0].behavior.up.limits[2].count: must be > 0`,
				`ebb.yaml:9:17: groups[0].behavior.up.select: must be one of max, min, disabled, not "most"`,
				`ebb.yaml:10:20: groups[0].behavior.up.tolerance: must be ≥ 0 and < 1`,
				`ebb.yaml:11:9: groups[0].behavior.up.datapoints.of: must be ≥ need (2)`,
				`ebb.yaml:13:18: groups[0].behavior.down.limits[0].per: required, must be > 0`,
				`ebb.yaml:14:20: groups[0].behavior.down.tolerance: must be ≥ 0 and < 1`,
			},
		},
		{
			name: "guards",
			src: web + cpuPolicy + `    guards:
      - {signal: queue, cap: -1}
      - {signal: cpu, above: 0}
`,
			want: []string{
				`ebb.yaml:7:9: groups[0].guards[0].above: required`,
				`ebb.yaml:7:30: groups[0].guards[0].cap: must be ≥ 0`,
			},
		},
		{
			name: "effectiveness",
			src: web + cpuPolicy + `    behavior:
      up:
        effectiveness: {signal: tput, threshold: 1.5, after: -1s, block: -1m}
`,
			want: []string{
				`ebb.yaml:8:33: groups[0].behavior.up.effectiveness.signal: unknown signal "tput" (declared: cpu, queue)`,
				`ebb.yaml:8:50: groups[0].behavior.up.effectiveness.threshold: must be > 0 and ≤ 1`,
				`ebb.yaml:8:62: groups[0].behavior.up.effectiveness.after: must not be negative`,
				`ebb.yaml:8:74: groups[0].behavior.up.effectiveness.block: must not be negative`,
			},
		},
		{
			name: "effectiveness needs a signal and a threshold above 0",
			src: web + cpuPolicy + `    behavior:
      up:
        effectiveness: {threshold: 0}
`,
			want: []string{
				`ebb.yaml:8:9: groups[0].behavior.up.effectiveness.signal: required: one of the group's signals (declared: cpu, queue)`,
				`ebb.yaml:8:36: groups[0].behavior.up.effectiveness.threshold: must be > 0 and ≤ 1`,
			},
		},
		{
			name: "budgets",
			src: web + cpuPolicy + `budgets:
  - {max: 0, groups: {}}
  - {name: db, max: 10, groups: {web: 0, api: 1}}
  - {name: db, max: 10, groups: {web: 1}}
`,
			want: []string{
				`ebb.yaml:7:5: budgets[0].name: required`,
				`ebb.yaml:7:11: budgets[0].max: must be > 0`,
				`ebb.yaml:7:14: budgets[0].groups: required: at least one group`,
				`ebb.yaml:8:39: budgets[1].groups.web: must be > 0, not 0`,
				`ebb.yaml:8:47: budgets[1].groups.api: unknown group "api" (groups: web)`,
				`ebb.yaml:9:12: budgets[2].name: duplicate budget name "db" (also budgets[1])`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseErrors(t, tt.src)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	f := &File{Groups: []Group{{Name: "web", Capacity: Capacity{Min: 2, Max: 1}}}}
	err := f.Validate()
	var list *Errors
	if !errors.As(err, &list) {
		t.Fatalf("Validate() = %v, want *Errors", err)
	}
	var got []string
	for _, e := range list.List {
		got = append(got, e.Error())
	}
	want := []string{
		"groups[0].behavior.down.select: must be one of max, min, disabled, not \"\"",
		"groups[0].behavior.down.datapoints.need: must be ≥ 1",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Validate() lacks %q; got:\n%v", w, got)
		}
	}
	if f, err := Parse("ebb.yaml", []byte(web+cpuPolicy)); err != nil || f.Validate() != nil {
		t.Errorf("a parsed File must validate: %v", err)
	}
}

// TestEnumTags keeps the enum tags, which the schema and reference show, in
// step with the values validation accepts.
func TestEnumTags(t *testing.T) {
	tests := []struct {
		typ   reflect.Type
		key   string
		valid []string
	}{
		{typ: reflect.TypeFor[Signal](), key: "aggregate", valid: aggregates},
		{typ: reflect.TypeFor[Signal](), key: "resource", valid: resources},
		{typ: reflect.TypeFor[Target](), key: "mode", valid: targetModes},
		{typ: reflect.TypeFor[Step](), key: "adjustment", valid: adjustments},
		{typ: reflect.TypeFor[Directional](), key: "select", valid: selects},
	}
	for _, tt := range tests {
		t.Run(tt.typ.Name()+"."+tt.key, func(t *testing.T) {
			f, ok := lookup(fieldsOf(tt.typ), tt.key)
			if !ok {
				t.Fatalf("no key %q", tt.key)
			}
			if diff := cmp.Diff(tt.valid, f.enum); diff != "" {
				t.Errorf("enum tag (-validation +tag):\n%s", diff)
			}
		})
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name string
		deps map[string][]string
		want [][]string
	}{
		{name: "none", deps: map[string][]string{"a": {"b"}, "b": {"c"}}},
		{name: "self", deps: map[string][]string{"a": {"a"}}, want: [][]string{{"a", "a"}}},
		{name: "rotated to the smallest name", deps: map[string][]string{"c": {"b"}, "b": {"c"}},
			want: [][]string{{"b", "c", "b"}}},
		{name: "two", deps: map[string][]string{"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}},
			want: [][]string{{"a", "b", "a"}, {"c", "d", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cycles(tt.deps)); diff != "" {
				t.Errorf("cycles (-want +got):\n%s", diff)
			}
		})
	}
}
