package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference returns the markdown reference of every configuration key,
// generated from the tags the decoder reads: one table per section, each row
// a key's full path ([] marks a list element, NAME a map entry), its type,
// default and description. docs/config.md embeds it.
func Reference() string {
	r := &refGen{seen: map[reflect.Type]string{}}
	r.section("", reflect.TypeFor[File]())
	return strings.TrimSuffix(r.b.String(), "\n")
}

// Reference lists the keys of each source kind in k: its connection
// settings under sources.NAME.KIND and what a signal reads under
// groups[].signals.NAME.KIND. docs/sources.md embeds it.
func (k *Kinds) Reference() string {
	r := &refGen{seen: map[reflect.Type]string{}}
	for _, kind := range k.Sources {
		r.section("sources.NAME."+kind.Name, reflect.TypeOf(kind.Conn).Elem())
		r.section("groups[].signals.NAME."+kind.Name, reflect.TypeOf(kind.Query).Elem())
	}
	return strings.TrimSuffix(r.b.String(), "\n")
}

// ProviderReference lists the keys of each provider kind in k, under
// groups[].provider.KIND. docs/providers.md embeds it.
func (k *Kinds) ProviderReference() string {
	r := &refGen{seen: map[reflect.Type]string{}}
	for _, kind := range k.Providers {
		r.section("groups[].provider."+kind.Name, reflect.TypeOf(kind.Conn).Elem())
	}
	return strings.TrimSuffix(r.b.String(), "\n")
}

type refGen struct {
	b    strings.Builder
	seen map[reflect.Type]string // struct type → the section that lists its keys
}

// section writes the table of struct type t found at path, then the sections
// of the structs under it, depth first in key order.
func (r *refGen) section(path string, t reflect.Type) {
	r.seen[t] = path
	if path == "" {
		r.b.WriteString("### Top level\n\n")
	} else {
		fmt.Fprintf(&r.b, "### `%s`\n\n", path)
	}
	r.b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	type child struct {
		path string
		t    reflect.Type
	}
	var children []child
	for _, f := range fieldsOf(t) {
		kp := join(path, f.key)
		typ := typeName(f)
		if st, sp := structUnder(f.typ, kp); st != nil {
			if prev, ok := r.seen[st]; ok {
				typ += fmt.Sprintf(", same keys as `%s`", prev)
			} else {
				r.seen[st] = sp
				children = append(children, child{sp, st})
			}
		}
		def := ""
		switch {
		case f.required():
			def = "required"
		case f.hasDef:
			def = "`" + f.def + "`"
		}
		fmt.Fprintf(&r.b, "| `%s` | %s | %s | %s |\n", kp, cell(typ), cell(def), cell(f.doc))
	}
	if _, role, ok := kindField(t); ok {
		doc := "What to read, under the key of a source kind (scrape, http_json, prometheus, redis, …), in that kind's settings: see docs/sources.md. At most one; a kind other than scrape, http_json and exec reads through the source named by source."
		if role == providerRole {
			doc = "Instead of local: a provider kind's key (kubernetes, aws, ecs, exec, …) with its settings: see docs/providers.md."
		}
		fmt.Fprintf(&r.b, "| `%s` | mapping |  | %s |\n", join(path, "KIND"), doc)
	}
	r.b.WriteString("\n")
	for _, c := range children {
		r.section(c.path, c.t)
	}
}

// structUnder returns the struct type a field holds (directly, by pointer,
// as list elements or map values) and the path its keys live under, or nil
// for fields without keys of their own.
func structUnder(t reflect.Type, path string) (reflect.Type, string) {
	for {
		if scalarType(t) || t == reflect.TypeFor[Plugged]() {
			return nil, ""
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Slice:
			t, path = t.Elem(), path+"[]"
		case reflect.Map:
			t, path = t.Elem(), path+".NAME"
		case reflect.Struct:
			return t, path
		default:
			return nil, ""
		}
	}
}

// typeName is how the reference names a field's type.
func typeName(f field) string {
	name := valueName(f.typ)
	if len(f.enum) > 0 {
		name += ": " + strings.Join(f.enum, ", ")
	}
	return name
}

func valueName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[Missing]():
		return "missing mode"
	case reflect.TypeFor[Plugged]():
		return "mapping: one kind key"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return valueName(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.Slice:
		return "list of " + plural(valueName(t.Elem()))
	case reflect.Map:
		return "map of NAME → " + valueName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	}
	return t.String()
}

func plural(s string) string {
	if strings.HasSuffix(s, "s") {
		return s
	}
	return s + "s"
}

// cell escapes text for a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
