package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// oneKindOf lists, per struct type, keys of which exactly one must be set.
// The schema states it with oneOf; validation checks it too.
var oneKindOf = map[reflect.Type][]string{
	reflect.TypeFor[Policy](): kindNames,
	reflect.TypeFor[Simple](): {"above", "below"},
}

// Schema returns a JSON Schema (draft 2020-12) of the configuration file,
// generated from the same tags the decoder reads: editors use it to complete
// and check ebb.yaml. The output is indented and byte-stable.
func Schema() ([]byte, error) { return schema(nil) }

// Schema is the package-level Schema with k's kinds plugged in.
func (k *Kinds) Schema() ([]byte, error) { return schema(k) }

func schema(k *Kinds) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}, kinds: k}
	root := g.object(reflect.TypeFor[File]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "ebb configuration"
	root["$defs"] = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return b.Bytes(), nil
}

type schemaGen struct {
	defs  map[string]any // struct type name → its schema
	kinds *Kinds
}

// defName names a struct type in $defs: plugged-in kinds' types by their
// package too (every kind has a Conn).
func defName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeFor[File]().PkgPath() {
		return t.Name()
	}
	return path.Base(t.PkgPath()) + "." + t.Name()
}

// kindProps adds to props a key per source kind holding r's config.
func (g *schemaGen) kindProps(props map[string]any, r role) {
	for _, k := range g.kinds.list(r) {
		s := g.typ(reflect.TypeOf(r.of(k)).Elem())
		props[k.Name] = map[string]any{"allOf": []any{s}, "description": k.Doc}
	}
}

// source describes a named source: one key naming its kind.
func (g *schemaGen) source() map[string]any {
	var one []any
	if g.kinds != nil {
		for _, k := range g.kinds.Sources {
			props := map[string]any{}
			g.kindProps(props, connRole)
			one = append(one, map[string]any{
				"type": "object", "properties": map[string]any{k.Name: props[k.Name]},
				"required": []any{k.Name}, "additionalProperties": false,
			})
		}
	}
	if len(one) == 0 {
		return map[string]any{"type": "object", "additionalProperties": false}
	}
	return map[string]any{"oneOf": one}
}

// object describes a struct: its keys, which are required, and no others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []any{}
	for _, f := range fieldsOf(t) {
		s := g.typ(f.typ)
		if f.doc != "" {
			s["description"] = f.doc
		}
		if f.hasDef {
			if n, err := defaultNode(f.def); err == nil {
				s["default"] = jsonValue(n)
			}
		}
		if len(f.enum) > 0 {
			enum := make([]any, len(f.enum))
			for i, e := range f.enum {
				enum[i] = e
			}
			s["enum"] = enum
		}
		if f.required() {
			required = append(required, f.key)
		}
		props[f.key] = s
	}
	if _, r, ok := kindField(t); ok {
		g.kindProps(props, r)
	}
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if keys := oneKindOf[t]; len(keys) > 0 {
		var one []any
		for _, k := range keys {
			one = append(one, map[string]any{"required": []any{k}})
		}
		s["oneOf"] = one
	}
	return s
}

// typ describes a value of type t. Struct types are described once under
// $defs and referenced.
func (g *schemaGen) typ(t reflect.Type) map[string]any {
	if t == reflect.TypeFor[Plugged]() {
		return g.source()
	}
	if scalarType(t) {
		return reflect.New(t).Interface().(scalar).schema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typ(t.Elem())
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // reserve: a type may refer to itself
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typ(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typ(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	panic(fmt.Sprintf("config: no schema for %s", t))
}

// jsonValue converts a YAML value to what encoding/json renders the same
// way: numbers stay numbers, "15s" stays a string.
func jsonValue(n *yaml.Node) any {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = jsonValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, jsonValue(c))
		}
		return l
	}
	var v any
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			v = i
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			v = f
		}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			v = b
		}
	case "!!null":
		return nil
	}
	if v == nil {
		return n.Value
	}
	return v
}
