package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// holds the invariants validation promises and survives a round trip: written
// back out with every key explicit, it parses to the same value.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"groups: []",
		"groups: {}",
		web + cpuPolicy,
		web + "    policies: [{step: {signal: cpu, threshold: 1, steps: [{from: 0, to: 1, adjust: 0}, {from: 1, adjust: 2}]}}]\n",
		web + "    policies: [{schedule: {windows: [{cron: '*/5 9-17 * * 1-5', duration: 1h, min: 2}]}}]\n",
		web + cpuPolicy + "    behavior: {up: {limits: []}, down: {window: 0s, datapoints: {need: 2, of: 3}}, missing: {fallback: 2}}\n",
		web + "    policies: [{queue: &q {signal: queue, per_instance: 3}}, {name: b, queue: *q}]\n",
		"groups:\n  - &g {name: a, capacity: {<<: {max: 2}, min: 1}, policies: [{fixed: {desired: 1}}]}\n",
		"groups: [{name: a, capacity: {max: 1.5}}]",
		"groups: [{name: a, capacity: {max: 1}, signals: {x: {expr: 'x + 1'}}, policies: [{target: {signal: x, value: 1}}]}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a File along with errors")
			}
			return
		}
		checkInvariants(t, cfg)
		out, err := yaml.Marshal(encode(reflect.ValueOf(cfg).Elem()))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("reparse of\n%s\n: %v", out, err)
		}
		if diff := cmp.Diff(cfg, again); diff != "" {
			t.Fatalf("round trip changed the config (-first +again):\n%s\nwritten as:\n%s", diff, out)
		}
	})
}

// checkInvariants asserts what validation guarantees about an accepted File.
func checkInvariants(t *testing.T, f *File) {
	t.Helper()
	if len(f.Groups) == 0 {
		t.Fatal("accepted a config without groups")
	}
	names := map[string]bool{}
	for _, g := range f.Groups {
		c := g.Capacity
		if names[g.Name] || c.Max < 0 || c.Min < 0 || c.Min > c.Max {
			t.Fatalf("group %q: duplicate name or bad capacity %+v", g.Name, c)
		}
		names[g.Name] = true
		if c.Initial != nil && (*c.Initial < c.Min || *c.Initial > c.Max) {
			t.Fatalf("group %q: initial %d outside [%d, %d]", g.Name, *c.Initial, c.Min, c.Max)
		}
		if g.Interval <= 0 || len(g.Policies) == 0 {
			t.Fatalf("group %q: interval %v, %d policies", g.Name, g.Interval, len(g.Policies))
		}
		for _, p := range g.Policies {
			if len(p.Kinds()) != 1 {
				t.Fatalf("group %q: policy with kinds %v", g.Name, p.Kinds())
			}
		}
		for _, d := range []Directional{g.Behavior.Up.Directional, g.Behavior.Down.Directional} {
			m := d.Datapoints
			if m.Need < 1 || m.Of < m.Need || m.Of > 64 || d.Tolerance < 0 || d.Tolerance >= 1 {
				t.Fatalf("group %q: bad direction %+v", g.Name, d)
			}
		}
		for _, l := range slices.Concat(g.Behavior.Up.Limits, g.Behavior.Down.Limits) {
			if l.Per <= 0 || (l.Count > 0) == (l.Percent > 0) {
				t.Fatalf("group %q: bad limit %+v", g.Name, l)
			}
		}
	}
	for _, b := range f.Budgets {
		for name, w := range b.Groups {
			if !names[name] || w <= 0 {
				t.Fatalf("budget %q: group %q weight %v", b.Name, name, w)
			}
		}
	}
}

// encode writes v back as YAML with every key explicit, so that defaults
// cannot hide a value that failed to survive. Absent pointers, lists and
// maps are left out; present but empty ones are written.
func encode(v reflect.Value) *yaml.Node {
	str := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	num := func(f float64) *yaml.Node { return str("!!float", strconv.FormatFloat(f, 'g', -1, 64)) }
	switch x := v.Interface().(type) {
	case Duration:
		return str("!!str", x.String())
	case Missing:
		switch x.Mode {
		case MissingTreatAs:
			return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("!!str", "treat_as"), num(x.Value)}}
		case MissingFallback:
			return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("!!str", "fallback"), str("!!int", strconv.Itoa(x.Fallback))}}
		}
		return str("!!str", x.String())
	}
	switch v.Kind() {
	case reflect.Pointer:
		return encode(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if k := fv.Kind(); (k == reflect.Pointer || k == reflect.Slice || k == reflect.Map) && fv.IsNil() {
				continue
			}
			n.Content = append(n.Content, str("!!str", f.key), encode(fv))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			n.Content = append(n.Content, encode(v.Index(i)))
		}
		return n
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n.Content = append(n.Content, str("!!str", k.String()), encode(v.MapIndex(k)))
		}
		return n
	case reflect.String:
		return str("!!str", v.String())
	case reflect.Bool:
		return str("!!bool", strconv.FormatBool(v.Bool()))
	case reflect.Int:
		return str("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Float64:
		return num(v.Float())
	}
	panic("encode: unexpected " + v.Type().String())
}
