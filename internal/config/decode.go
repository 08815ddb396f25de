package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the configuration file at path.
func Load(path string) (*File, error) { return load(nil, path) }

func load(k *Kinds, path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(k, path, data)
}

// Parse decodes and validates one configuration file; filename only labels
// errors. Decoding is strict: unknown keys, duplicate keys and values of the
// wrong type are errors. A key that is absent takes its default; an explicit
// value, even 0, is kept.
//
// When anything is wrong Parse returns nil and an *Errors holding every
// problem found, each with its position and path.
func Parse(filename string, data []byte) (*File, error) { return parse(nil, filename, data) }

func parse(k *Kinds, filename string, data []byte) (*File, error) {
	root, perr := parseYAML(filename, data)
	if perr != nil {
		return nil, newErrors([]*Error{perr})
	}
	d := newDecoder(filename, root)
	d.kinds = k
	var f File
	d.decode(nil, root, reflect.ValueOf(&f).Elem(), "")
	errs := d.errs
	for _, e := range validate(&f, filename, d.pos, k) {
		if !d.spoiled(e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, newErrors(errs)
	}
	return &f, nil
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parseYAML reads the one document of data and returns its root mapping.
func parseYAML(filename string, data []byte) (root *yaml.Node, err *Error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a config error is
		// the right answer to any input.
		if r := recover(); r != nil {
			root, err = nil, &Error{File: filename, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	syntax := func(e error) *Error {
		if m := yamlLine.FindStringSubmatch(e.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &Error{File: filename, Line: line, Msg: "invalid YAML: " + m[2]}
		}
		return &Error{File: filename, Msg: "invalid YAML: " + strings.TrimPrefix(e.Error(), "yaml: ")}
	}
	empty := &Error{File: filename, Line: 1, Col: 1, Msg: "file is empty; want a mapping with a groups key"}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if e := dec.Decode(&doc); errors.Is(e, io.EOF) {
		return nil, empty
	} else if e != nil {
		return nil, syntax(e)
	}
	var next yaml.Node
	if e := dec.Decode(&next); e == nil {
		return nil, &Error{File: filename, Line: next.Line, Col: next.Column,
			Msg: "a second YAML document; a config file holds exactly one"}
	} else if !errors.Is(e, io.EOF) {
		return nil, syntax(e)
	}
	if len(doc.Content) != 1 {
		return nil, empty
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, empty
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: filename, Line: root.Line, Col: root.Column,
			Msg: fmt.Sprintf("must be a mapping with a groups key, not %s", describe(root))}
	}
	return root, nil
}

// decoder walks a YAML node tree and a Go value side by side.
type decoder struct {
	file string
	errs []*Error
	// pos records where each path was seen, for validation to point at.
	// nil while decoding defaults, which have no position.
	pos map[string]position
	// bad holds the paths of values that failed to decode: validation of
	// those values (and of what is inside them) would only repeat the
	// problem in other words. Everything else is still validated, so one
	// run reports every problem.
	bad map[string]bool
	// budget bounds the nodes visited, so aliases cannot make a small file
	// expand into an enormous one.
	budget int
	over   bool
	kinds  *Kinds // the source kinds plugged in; nil: none
}

func newDecoder(file string, root *yaml.Node) *decoder {
	return &decoder{
		file:   file,
		pos:    map[string]position{},
		bad:    map[string]bool{},
		budget: 10_000 + 10*countNodes(root),
	}
}

func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// spoiled reports whether a validation problem at path may only echo a
// decoding problem.
func (d *decoder) spoiled(path string) bool {
	for p := range d.bad {
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// valueErrorf reports a value that could not be decoded.
func (d *decoder) valueErrorf(n *yaml.Node, path, format string, args ...any) {
	d.errorf(n, path, format, args...)
	if d.bad != nil {
		d.bad[path] = true
	}
}

// at returns the position of path or of its nearest recorded ancestor.
func (d *decoder) at(path string) *yaml.Node {
	for p := path; ; p = parent(p) {
		if at, ok := d.pos[p]; ok {
			return &yaml.Node{Line: at.line, Column: at.col}
		}
		if p == "" {
			return nil
		}
	}
}

// decode stores node n into v. key is n's key node when n is a mapping
// value: collections are recorded at their key, scalars at themselves.
func (d *decoder) decode(key, n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget < 0 {
		d.overBudget(n)
		return
	}
	at := n
	n = resolve(n)
	if d.pos != nil {
		p := at
		if n.Kind != yaml.ScalarNode && key != nil {
			p = key
		}
		d.pos[path] = position{p.Line, p.Column}
	}
	if v.Type() == reflect.TypeFor[Plugged]() {
		d.decodeSource(key, n, v, path)
		return
	}
	if s, ok := v.Addr().Interface().(scalar); ok {
		if err := s.decodeNode(n); err != nil {
			d.valueErrorf(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return // absent
		}
		p := reflect.New(v.Type().Elem())
		d.decode(key, n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

// overBudget reports, once, that aliases expand the document too far.
func (d *decoder) overBudget(n *yaml.Node) {
	if !d.over {
		d.over = true
		d.valueErrorf(n, "", "the document is too large once its aliases are expanded")
	}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) { // "key:" with nothing after it: an empty section
		d.defaults(v, path)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.valueErrorf(n, path, "must be a mapping, not %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	kf, kr, hasKind := kindField(v.Type())
	seen := map[string]bool{}
	for _, p := range d.pairs(n, path, 0) {
		f, ok := lookup(fields, p.key.Value)
		if !ok {
			if hasKind && d.decodeKind(p.key, p.value, v.Field(kf).Addr().Interface().(*Plugged), kr, p.key.Value, path) {
				continue
			}
			valid := keysOf(v.Type())
			if hasKind {
				valid = append(valid, d.kinds.names(kr)...)
			}
			d.errorf(p.key, path, "%s", unknownKey(p.key.Value, valid))
			continue
		}
		seen[f.key] = true
		d.decode(p.key, p.value, v.FieldByIndex(f.index), join(path, f.key))
	}
	for _, f := range fields {
		if !seen[f.key] {
			d.absent(f, v.FieldByIndex(f.index), join(path, f.key))
		}
	}
}

func lookup(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// defaults fills every field of struct v as if its keys were all absent.
func (d *decoder) defaults(v reflect.Value, path string) {
	for _, f := range fieldsOf(v.Type()) {
		d.absent(f, v.FieldByIndex(f.index), join(path, f.key))
	}
}

// absent applies the default of a missing key: its default tag, decoded like
// file content, or for a nested section its own fields' defaults.
func (d *decoder) absent(f field, v reflect.Value, path string) {
	if f.hasDef {
		n, err := defaultNode(f.def)
		if err != nil {
			d.valueErrorf(d.at(path), path, "invalid default: %v", err)
			return
		}
		sub := &decoder{file: d.file, budget: 1 << 20}
		sub.decode(nil, n, v, path)
		for _, e := range sub.errs {
			d.valueErrorf(d.at(path), path, "invalid default %q: %s", f.def, e.Msg)
		}
		return
	}
	if v.Kind() == reflect.Struct && !scalarType(v.Type()) {
		d.defaults(v, path)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.valueErrorf(n, path, "must be a list, not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(nil, item, s.Index(i), index(path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	m := reflect.MakeMap(v.Type())
	v.Set(m)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.valueErrorf(n, path, "must be a mapping, not %s", describe(n))
		return
	}
	for _, p := range d.pairs(n, path, 0) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.key, p.value, elem, join(path, p.key.Value))
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
}

// pair is one key and its value in a mapping.
type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys ("<<: *defaults")
// expanded: keys written in the mapping win over merged ones, and among merged
// mappings the earlier wins. Keys that are not strings and keys written twice
// are reported and left out.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var out, merged []pair
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path, depth+1)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings, not %s", describe(k))
			continue
		}
		if prev, dup := first[k.Value]; dup {
			d.errorf(k, path, "duplicate key %q (first at line %d)", k.Value, prev.Line)
			continue
		}
		first[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := first[p.key.Value]; !ok {
			first[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

// merge returns the entries a merge key brings in.
func (d *decoder) merge(v *yaml.Node, path string, depth int) []pair {
	if d.budget--; d.budget < 0 {
		d.overBudget(v)
		return nil
	}
	if depth > 20 {
		d.valueErrorf(v, path, "merge keys nest too deeply")
		return nil
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path, depth)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range v.Content {
			if m := resolve(m); m.Kind != yaml.MappingNode {
				d.valueErrorf(m, path, "<< must merge a mapping or a list of mappings, not a list holding %s", describe(m))
				continue
			}
			out = append(out, d.merge(m, path, depth+1)...)
		}
		return out
	}
	d.valueErrorf(v, path, "<< must merge a mapping or a list of mappings, not %s", describe(v))
	return nil
}

// decodeScalar decodes strings, integers, numbers and booleans, checking the
// YAML type: 1.5 is not an integer and "5" (quoted) is not a number.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Int: "an integer", reflect.Int64: "an integer",
		reflect.Float64: "a number", reflect.Bool: "true or false",
	}[v.Kind()]
	if want == "" {
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
	if n.Kind != yaml.ScalarNode {
		d.valueErrorf(n, path, "must be %s, not %s", want, describe(n))
		return
	}
	tag := n.ShortTag()
	fail := func() { d.valueErrorf(n, path, "must be %s, not %s", want, describe(n)) }
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			v.SetString(n.Value)
		default:
			fail()
		}
	case reflect.Int, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			fail()
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
			fail()
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.valueErrorf(n, path, "must be a finite number, not %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			fail()
			return
		}
		v.SetBool(b)
	}
}

// describe names what a node holds, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty (null)"
		}
		v := n.Value
		if r := []rune(v); len(r) > 40 {
			v = string(r[:40]) + "…"
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			return "the quoted string " + strconv.Quote(v)
		}
		return strconv.Quote(v)
	}
	return "an alias"
}
