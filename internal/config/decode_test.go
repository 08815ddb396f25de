package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// parseErrors parses src as ebb.yaml, which must fail, and returns the
// problems one per line.
func parseErrors(t *testing.T, src string) []string {
	t.Helper()
	f, err := testKinds.Parse("ebb.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded, want errors")
	}
	if f != nil {
		t.Errorf("Parse returned a File along with errors")
	}
	var list *Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse error is %T, want *Errors", err)
	}
	return strings.Split(err.Error(), "\n")
}

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("ebb.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "empty file",
			src:  "",
			want: []string{`ebb.yaml:1:1: file is empty; want a mapping with a groups key`},
		},
		{
			name: "only comments",
			src:  "# nothing yet\n",
			want: []string{`ebb.yaml:1:1: file is empty; want a mapping with a groups key`},
		},
		{
			name: "null document",
			src:  "---\n~\n",
			want: []string{`ebb.yaml:1:1: file is empty; want a mapping with a groups key`},
		},
		{
			name: "root is a list",
			src:  "- name: web\n",
			want: []string{`ebb.yaml:1:1: must be a mapping with a groups key, not a list`},
		},
		{
			name: "syntax error",
			src:  "groups:\n  - name: web\n capacity: {max: 1}\n",
			want: []string{`ebb.yaml:2: invalid YAML: did not find expected key`},
		},
		{
			name: "second document",
			src:  "groups: []\n---\ngroups: []\n",
			want: []string{`ebb.yaml:2:1: a second YAML document; a config file holds exactly one`},
		},
		{
			name: "unknown key close to a valid one",
			src: `groups:
  - name: web
    capacity: {max: 2}
    signals:
      cpu: {windw: 1m}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{`ebb.yaml:5:13: groups[0].signals.cpu: unknown key "windw"; did you mean "window"?`},
		},
		{
			name: "unknown key far from any",
			src: `groups:
  - name: web
    capacity: {max: 2}
    color: blue
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{`ebb.yaml:4:5: groups[0]: unknown key "color" (valid keys: name, capacity, interval, signals, policies, behavior, guards, provider, lifecycle)`},
		},
		{
			name: "unknown policy kind",
			src: `groups:
  - name: web
    capacity: {max: 2}
    signals: {cpu: {}}
    policies: [{targt: {signal: cpu, value: 1}}]
`,
			want: []string{
				`ebb.yaml:5:16: groups[0].policies[0]: must set one of target, step, simple, queue, streaming, schedule, predictive, fixed`,
				`ebb.yaml:5:17: groups[0].policies[0]: unknown key "targt"; did you mean "target"?`,
			},
		},
		{
			name: "integers",
			src: `groups:
  - name: web
    capacity: {min: abc, max: 1.5, initial: "2"}
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{
				`ebb.yaml:3:21: groups[0].capacity.min: must be an integer, not "abc"`,
				`ebb.yaml:3:31: groups[0].capacity.max: must be an integer, not "1.5"`,
				`ebb.yaml:3:45: groups[0].capacity.initial: must be an integer, not the quoted string "2"`,
			},
		},
		{
			name: "numbers",
			src: `groups:
  - name: web
    capacity: {max: 2}
    signals: {cpu: {}}
    policies:
      - target: {signal: cpu, value: high}
      - queue: {signal: cpu, per_instance: .nan}
      - queue: {signal: cpu, per_instance: [1]}
`,
			want: []string{
				`ebb.yaml:6:38: groups[0].policies[0].target.value: must be a number, not "high"`,
				`ebb.yaml:7:44: groups[0].policies[1].queue.per_instance: must be a finite number, not ".nan"`,
				`ebb.yaml:8:9: groups[0].policies[2]: duplicate policy name "queue(cpu)" (also policies[1]); set name to tell them apart`,
				`ebb.yaml:8:44: groups[0].policies[2].queue.per_instance: must be a number, not a list`,
			},
		},
		{
			name: "strings",
			src: `groups:
  - name: {first: web}
    capacity: {max: 2}
    signals: {cpu: {expr: }}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{
				`ebb.yaml:2:11: groups[0].name: must be a string, not a mapping`,
				`ebb.yaml:4:27: groups[0].signals.cpu.expr: must be a string, not empty (null)`,
			},
		},
		{
			name: "mapping where a list is expected",
			src: `groups:
  name: web
`,
			want: []string{`ebb.yaml:2:3: groups: must be a list, not a mapping`},
		},
		{
			name: "list where a mapping is expected",
			src: `groups:
  - name: web
    capacity: [1, 2]
    signals: [cpu]
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{
				`ebb.yaml:3:15: groups[0].capacity: must be a mapping, not a list`,
				`ebb.yaml:4:14: groups[0].signals: must be a mapping, not a list`,
				// Validation goes on past decoding problems; with no signals
				// decoded, the reference to cpu has nothing to match.
				`ebb.yaml:5:34: groups[0].policies[0].target.signal: unknown signal "cpu" (the group declares no signals)`,
			},
		},
		{
			name: "duplicate keys",
			src: `groups:
  - name: web
    capacity: {max: 2}
    signals: {cpu: {}, cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
    capacity: {max: 3}
`,
			want: []string{
				`ebb.yaml:4:24: groups[0].signals: duplicate key "cpu" (first at line 4)`,
				`ebb.yaml:6:5: groups[0]: duplicate key "capacity" (first at line 3)`,
			},
		},
		{
			name: "keys that are not strings",
			src: `groups:
  - name: web
    capacity: {max: 2}
    signals: {[cpu]: {}, mem: {}}
    policies: [{target: {signal: mem, value: 1}}]
`,
			want: []string{`ebb.yaml:4:15: groups[0].signals: keys must be strings, not a list`},
		},
		{
			name: "durations and missing modes",
			src: `groups:
  - name: web
    capacity: {max: 2}
    interval: 10
    signals: {cpu: {window: -1m}}
    policies: [{target: {signal: cpu, value: 1}}]
    behavior: {missing: sometimes}
`,
			want: []string{
				`ebb.yaml:4:15: groups[0].interval: must be a duration such as 30s or 5m, not "10"`,
				`ebb.yaml:5:29: groups[0].signals.cpu.window: must not be negative`,
				`ebb.yaml:7:25: groups[0].behavior.missing: must be hold, scale_out, {treat_as: NUMBER} or {fallback: INSTANCES}, not "sometimes"`,
			},
		},
		{
			name: "every problem at once, decoding and validation",
			src: `groups:
  - name: web
    capacity: {max: lots}
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 0}}]
  - name: api
    capacity: {min: 3, max: 2}
    signals: {cpu: {stale: 0s}}
    policies: [{target: {signal: cpux, value: 1}}]
    lifecycle: {lunch: {}}
`,
			want: []string{
				// Only checks of the value that did not decode are left out.
				`ebb.yaml:3:21: groups[0].capacity.max: must be an integer, not "lots"`,
				`ebb.yaml:5:46: groups[0].policies[0].target.value: must be > 0`,
				`ebb.yaml:7:21: groups[1].capacity.min: must be ≤ max (2)`,
				`ebb.yaml:8:28: groups[1].signals.cpu.stale: must be > 0`,
				`ebb.yaml:9:34: groups[1].policies[0].target.signal: unknown signal "cpux" (declared: cpu)`,
				`ebb.yaml:10:17: groups[1].lifecycle: unknown key "lunch"; did you mean "launch"?`,
			},
		},
		{
			name: "bad merge",
			src: `groups:
  - name: web
    capacity: {<<: [1], max: 2}
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
`,
			want: []string{`ebb.yaml:3:21: groups[0].capacity: << must merge a mapping or a list of mappings, not a list holding "1"`},
		},
		{
			name: "aliases that expand past the budget",
			src:  aliasBomb(),
			want: []string{`ebb.yaml:11:40: the document is too large once its aliases are expanded`},
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

// aliasBomb builds a small file whose aliases expand to a million steps:
// 100 groups of 100 policies of 100 steps.
func aliasBomb() string {
	hundred := func(alias string) string { return strings.Repeat(", "+alias, 99) }
	return `groups:
  - &g
    name: web
    capacity: {max: 1}
    signals: {cpu: {}}
    policies:
      - &p
        step:
          signal: cpu
          threshold: 1
          steps: [&s {from: 0, adjust: 1}` + hundred("*s") + `]
      - *p` + strings.Repeat("\n      - *p", 98) + `
  - [*g` + hundred("*g") + `]
`
}

func TestParseAliasesAndMerges(t *testing.T) {
	f := mustParse(t, `groups:
  - name: web
    capacity: &cap {min: 1, max: 4}
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
    behavior: &calm
      down: {window: 30m}
  - name: api
    capacity:
      <<: *cap
      max: 8
    signals: {cpu: {}}
    policies: [{target: {signal: cpu, value: 1}}]
    behavior: *calm
`)
	got := []any{f.Groups[1].Capacity.Min, f.Groups[1].Capacity.Max, f.Groups[1].Behavior.Down.Window}
	want := []any{1, 8, Duration(30 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged values (-want +got):\n%s", diff)
	}
}

func TestParseDefaults(t *testing.T) {
	up := Up{
		Window:      0,
		Limits:      []Limit{{Count: 4, Per: Duration(15 * time.Second)}, {Percent: 100, Per: Duration(15 * time.Second)}},
		Directional: Directional{Select: "max", Tolerance: 0.1, Datapoints: MofN{Need: 1, Of: 1}},
	}
	down := Down{
		Window:      Duration(5 * time.Minute),
		Limits:      []Limit{{Percent: 100, Per: Duration(15 * time.Second)}},
		Directional: Directional{Select: "max", Tolerance: 0.1, Datapoints: MofN{Need: 1, Of: 1}},
	}
	minute := Duration(time.Minute)
	tests := []struct {
		name string
		src  string // the group's keys after name, capacity and signals
		want func(g *Group)
	}{
		{
			name: "absent sections get every default",
			src:  "    policies: [{target: {signal: cpu, value: 0.5}}]\n",
			want: func(g *Group) {},
		},
		{
			name: "explicit zeros stay zero",
			src: `    policies: [{target: {signal: cpu, value: 0.5}}]
    behavior:
      up: {tolerance: 0}
      down: {window: 0s, limits: [], cooldown: 0s}
      warmup: 0
`,
			want: func(g *Group) {
				g.Behavior.Up.Tolerance = 0
				g.Behavior.Down.Window = 0
				g.Behavior.Down.Limits = []Limit{}
			},
		},
		{
			name: "a written list replaces the default; its items get defaults",
			src: `    policies: [{target: {signal: cpu, value: 0.5}}]
    behavior:
      up: {limits: [{count: 2, per: 1m}]}
      down: {datapoints: {need: 3, of: 5}}
`,
			want: func(g *Group) {
				g.Behavior.Up.Limits = []Limit{{Count: 2, Per: minute}}
				g.Behavior.Down.Datapoints = MofN{Need: 3, Of: 5}
			},
		},
		{
			name: "defaults inside policies; absent pointers stay nil",
			src: `    policies:
      - simple: {signal: cpu, above: 0.9, change: 1}
      - streaming: {input_rate: cpu, throughput: cpu, backlog: cpu, cpu: cpu}
    behavior:
`,
			want: func(g *Group) {
				g.Policies = []Policy{
					{Simple: &Simple{Signal: "cpu", Above: ptr(0.9), Change: 1, Datapoints: MofN{Need: 1, Of: 1}}},
					{Streaming: &Streaming{
						InputRate: "cpu", Throughput: "cpu", Backlog: "cpu", CPU: "cpu",
						CatchUp: Duration(time.Minute), CPUTarget: 0.8,
						Up:          StreamingUp{BacklogTime: Duration(2 * time.Minute), CPU: 0.9},
						Down:        StreamingDown{BacklogTime: Duration(10 * time.Second), CPU: 0.7},
						MinInterval: Duration(5 * time.Minute),
					}},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, "groups:\n  - name: web\n    capacity: {max: 3}\n    signals: {cpu: {}}\n"+tt.src)
			want := Group{
				Name:     "web",
				Capacity: Capacity{Max: 3},
				Interval: Duration(15 * time.Second),
				Signals:  map[string]Signal{"cpu": {Window: minute, Stale: minute, Aggregate: "avg"}},
				Policies: []Policy{{Target: &Target{Signal: "cpu", Value: 0.5, Mode: "average"}}},
				Behavior: Behavior{Up: up, Down: down, Missing: Missing{Mode: MissingHold}},
				Lifecycle: Lifecycle{
					Launch: Launch{
						Boot: Duration(30 * time.Second), Ready: Probe{Timeout: Duration(5 * time.Second)},
						Timeout: Duration(2 * time.Minute), MaxConcurrent: 10,
						Backoff: Backoff{Initial: Duration(5 * time.Second), Max: Duration(5 * time.Minute)},
					},
					Drain: Drain{
						HTTP: HTTPAction{Method: "PUT"}, Busy: Probe{Timeout: Duration(5 * time.Second)},
						Heartbeat: Duration(10 * time.Second), Timeout: Duration(time.Hour), OnTimeout: "continue", Grace: Duration(30 * time.Second),
					},
					Health: Health{Check: Probe{Timeout: Duration(5 * time.Second)}, Grace: Duration(30 * time.Second), Failures: 3},
					Select: "oldest",
				},
			}
			// Deep copies, so one case cannot change the next one's defaults.
			want.Behavior.Up.Limits = append([]Limit(nil), up.Limits...)
			want.Behavior.Down.Limits = append([]Limit(nil), down.Limits...)
			tt.want(&want)
			defaults := &File{
				Store:  Store{Path: "ebb.db", JournalMax: 1000, JournalAge: Duration(168 * time.Hour), SignalAge: Duration(6 * time.Hour), SignalMax: 240},
				API:    API{Listen: "127.0.0.1:7070", MaxConnections: 512, ReadHeaderTimeout: Duration(10 * time.Second), ReadTimeout: Duration(30 * time.Second), WriteTimeout: Duration(90 * time.Second), IdleTimeout: Duration(time.Minute)},
				Groups: []Group{want},
				Registry: Registry{LeaseDuration: Duration(90 * time.Second), RenewalInterval: Duration(30 * time.Second),
					EvictionInterval: Duration(time.Minute), RenewalPercentThreshold: 0.85, SelfPreservation: true},
			}
			if diff := cmp.Diff(defaults, f); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestEveryDefaultDecodes decodes each default tag into its field's type, as
// Parse does when the key is absent.
func TestEveryDefaultDecodes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	count := 0
	walk = func(typ reflect.Type, path string) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		for _, f := range fieldsOf(typ) {
			p := join(path, f.key)
			if f.hasDef {
				count++
				t.Run(p, func(t *testing.T) {
					n, err := defaultNode(f.def)
					if err != nil {
						t.Fatal(err)
					}
					d := &decoder{file: "default", budget: 1000}
					d.decode(nil, n, reflect.New(f.typ).Elem(), p)
					for _, e := range d.errs {
						t.Errorf("default %q: %v", f.def, e)
					}
				})
			}
			if st, sp := structUnder(f.typ, p); st != nil {
				walk(st, sp)
			}
		}
	}
	walk(reflect.TypeFor[File](), "")
	if count < 20 {
		t.Errorf("found %d default tags; the walk missed some", count)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{name: "everything", err: Error{File: "ebb.yaml", Line: 14, Col: 7, Path: "groups[0].policies[1].target.value", Msg: "must be > 0"},
			want: "ebb.yaml:14:7: groups[0].policies[1].target.value: must be > 0"},
		{name: "no path", err: Error{File: "ebb.yaml", Line: 1, Col: 1, Msg: "file is empty"}, want: "ebb.yaml:1:1: file is empty"},
		{name: "no column", err: Error{File: "ebb.yaml", Line: 3, Msg: "invalid YAML"}, want: "ebb.yaml:3: invalid YAML"},
		{name: "no position", err: Error{Path: "groups", Msg: "required"}, want: "groups: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := Parse("ebb.yaml", []byte("groups: []\nbudgets: {}\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) = false", err)
	}
	if want := "ebb.yaml:1:1: groups: required: at least one group"; e.Error() != want {
		t.Errorf("first error = %q, want %q", e.Error(), want)
	}
}

func TestLoad(t *testing.T) {
	for _, name := range []string{"minimal.yaml", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(filepath.Join("testdata", name)); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load error = %v, want one wrapping os.ErrNotExist", err)
		}
	})
}
