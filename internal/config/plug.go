package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is a kind of source plugged into the configuration by the
// composition root: the key that names it, and its two typed configs. The
// config package decodes, defaults, validates and documents them like its
// own types, without knowing any kind.
type Kind struct {
	Name string // the key: prometheus, redis, …
	Doc  string // one sentence for the reference and the schema
	// Conn points to a zero connection config (the value under
	// sources.NAME.KIND); Query to a zero per-signal config (the value
	// under groups[].signals.NAME.KIND). Only their types matter. Either
	// may have a Validate() error method returning Problem errors.
	Conn, Query any
	// Standalone kinds may be used by a signal that names no source: the
	// connection config is then all defaults.
	Standalone bool
}

// Kinds is what the composition root plugs into the configuration. The
// package-level Parse, Load, Schema and Reference know no kinds: only
// pushed and derived signals, and the local provider.
type Kinds struct {
	Sources []Kind
	// Providers are the provider kinds beside local; a provider kind's
	// config is its Conn (it has no Query).
	Providers []Kind
}

// Plugged is a value of a plugged-in kind: the key it was written under and
// its decoded config, a pointer of the kind's type.
type Plugged struct {
	Kind   string
	Config any
}

// IsSet reports whether a kind was written.
func (p Plugged) IsSet() bool { return p.Kind != "" }

// list returns the kinds a role draws from.
func (k *Kinds) list(r role) []Kind {
	switch {
	case k == nil:
		return nil
	case r == providerRole:
		return k.Providers
	}
	return k.Sources
}

// find returns the kind of role r named name.
func (k *Kinds) find(r role, name string) (Kind, bool) {
	for _, s := range k.list(r) {
		if s.Name == name {
			return s, true
		}
	}
	return Kind{}, false
}

// source returns the source kind named name.
func (k *Kinds) source(name string) (Kind, bool) { return k.find(connRole, name) }

// names lists the names of the kinds of role r.
func (k *Kinds) names(r role) []string {
	var out []string
	for _, s := range k.list(r) {
		out = append(out, s.Name)
	}
	return out
}

// role says which of a kind's configs a Plugged holds.
type role int

const (
	connRole     role = iota // sources.NAME.KIND
	queryRole                // groups[].signals.NAME.KIND
	providerRole             // groups[].provider.KIND
)

func (r role) of(k Kind) any {
	if r == queryRole {
		return k.Query
	}
	return k.Conn
}

// what names the role's kinds in messages.
func (r role) what() string {
	if r == providerRole {
		return "provider"
	}
	return "source"
}

// kindField returns the index of struct type t's field that takes one key
// naming a kind, and the role of that kind: tagged `yaml:",kind"` for a
// signal's source kind, `yaml:",provider"` for a group's provider kind.
func kindField(t reflect.Type) (int, role, bool) {
	for i := range t.NumField() {
		switch _, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); opts {
		case "kind":
			return i, queryRole, true
		case "provider":
			return i, providerRole, true
		}
	}
	return 0, 0, false
}

// decodeKind decodes node n, the value of key under path, into a new
// config of kind name's type for r, and stores it in p.
func (d *decoder) decodeKind(key, n *yaml.Node, p *Plugged, r role, name, path string) bool {
	k, ok := d.kinds.find(r, name)
	if !ok {
		return false
	}
	kp := join(path, name)
	if p.IsSet() {
		d.valueErrorf(key, kp, "one %s kind here; %s is already set", r.what(), p.Kind)
		return true
	}
	v := reflect.New(reflect.TypeOf(r.of(k)).Elem())
	d.decode(key, n, v.Elem(), kp)
	*p = Plugged{Kind: name, Config: v.Interface()}
	return true
}

// decodeSource decodes a named source: a mapping with one key, its kind.
func (d *decoder) decodeSource(key, n *yaml.Node, v reflect.Value, path string) {
	p := v.Addr().Interface().(*Plugged)
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.valueErrorf(n, path, "must be a mapping with one key naming the source's kind (%s), not %s", d.kindList(connRole), describe(n))
		return
	}
	pairs := d.pairs(n, path, 0)
	if len(pairs) != 1 {
		d.valueErrorf(n, path, "must have exactly one key naming the source's kind (%s), not %d", d.kindList(connRole), len(pairs))
		return
	}
	k := pairs[0]
	if d.decodeKind(k.key, k.value, p, connRole, k.key.Value, path) {
		return
	}
	if len(d.kinds.names(connRole)) == 0 {
		d.valueErrorf(k.key, path, "unknown source kind %q: no source kinds are built into this program", k.key.Value)
		return
	}
	d.valueErrorf(k.key, path, "unknown source kind %q", k.key.Value)
	if guess := closest(k.key.Value, d.kinds.names(connRole)); guess != "" {
		d.errs[len(d.errs)-1].Msg += fmt.Sprintf("; did you mean %q?", guess)
	} else {
		d.errs[len(d.errs)-1].Msg += fmt.Sprintf(" (kinds: %s)", d.kindList(connRole))
	}
}

func (d *decoder) kindList(r role) string {
	if names := d.kinds.names(r); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "no " + r.what() + " kinds are available here"
}

// plugged validates a plugged-in config at path with its own Validate,
// placing each problem at its key.
func (v *validator) plugged(p Plugged, path string) {
	val, ok := p.Config.(interface{ Validate() error })
	if !ok || p.Config == nil || reflect.ValueOf(p.Config).IsNil() {
		return
	}
	err := val.Validate()
	if err == nil {
		return
	}
	kp := join(path, p.Kind)
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			if ke.Key == "" {
				v.errf(kp, "%s", ke.Msg)
			} else {
				v.errf(joinKeys(kp, ke.Key), "%s", ke.Msg)
			}
			continue
		}
		v.errf(kp, "%s", e.Error())
	}
}

// sources checks the named sources.
func (v *validator) sources(f *File) {
	for _, name := range sortedMapKeys(f.Sources) {
		p := join("sources", name)
		if !groupName.MatchString(name) {
			v.errf(p, "invalid source name %q: use letters, digits, '-' and '_'", name)
		}
		if name == "push" {
			v.errf(p, "push is the name of pushed values; choose another")
		}
		v.plugged(f.Sources[name], p)
	}
}

// signalSource checks where a signal's values come from: an expression,
// pushed values, or a kind, through a named source or standalone.
func (v *validator) signalSource(f *File, s *Signal, p string) {
	if s.Expr != "" && (s.Source != "" || s.Read.IsSet()) {
		v.errf(p, "a derived signal (expr) takes no source")
		return
	}
	if s.Read.IsSet() {
		v.plugged(s.Read, p)
	}
	switch {
	case s.Source == "" && s.Read.IsSet():
		if k, ok := v.kinds.source(s.Read.Kind); ok && !k.Standalone {
			v.errf(join(p, s.Read.Kind), "a %s signal reads through a named source: add source: NAME and a %s source under sources", s.Read.Kind, s.Read.Kind)
		}
	case s.Source == "push":
		if s.Read.IsSet() {
			v.errf(join(p, s.Read.Kind), "a pushed signal reads nothing: drop source: push or the %s key", s.Read.Kind)
		}
	case s.Source != "":
		src, ok := f.Sources[s.Source]
		if !ok {
			known := []string{"push"}
			for _, k := range sortedMapKeys(f.Sources) {
				if k != "push" {
					known = append(known, k)
				}
			}
			v.errf(join(p, "source"), "unknown source %q (defined: %s)", s.Source, strings.Join(known, ", "))
			return
		}
		switch {
		case !s.Read.IsSet():
			v.errf(join(p, "source"), "%s is a %s source: say what to read under a %s key", s.Source, src.Kind, src.Kind)
		case s.Read.Kind != src.Kind:
			v.errf(join(p, s.Read.Kind), "source %s is a %s source, not %s", s.Source, src.Kind, s.Read.Kind)
		}
	}
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Parse is the package-level Parse with k's kinds plugged in.
func (k *Kinds) Parse(filename string, data []byte) (*File, error) { return parse(k, filename, data) }

// Load is the package-level Load with k's kinds plugged in.
func (k *Kinds) Load(path string) (*File, error) { return load(k, path) }

// Defaults returns a new config of zero's type (a pointer to a struct) with
// every key at its default, as if written empty: the connection config of a
// standalone kind used without a named source. An error is a default tag
// that does not decode.
func Defaults(zero any) (any, error) {
	v := reflect.New(reflect.TypeOf(zero).Elem())
	d := &decoder{budget: 1 << 20, bad: map[string]bool{}}
	d.defaults(v.Elem(), "")
	if len(d.errs) > 0 {
		return nil, newErrors(d.errs)
	}
	return v.Interface(), nil
}

// Source returns the source kind named name.
func (k *Kinds) Source(name string) (Kind, bool) { return k.source(name) }

// providerKind checks a group's provider: local, or one provider kind,
// not both.
func (v *validator) providerKind(pr *Provider, p string) {
	if !pr.Kind.IsSet() {
		return
	}
	if pr.Local != nil {
		v.errf(join(p, pr.Kind.Kind), "one provider: local or %s, not both", pr.Kind.Kind)
	}
	v.plugged(pr.Kind, p)
}
