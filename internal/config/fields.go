package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// field is one key of a config struct, with ",inline" structs flattened into
// their parent.
type field struct {
	key    string
	index  []int // for reflect.Value.FieldByIndex
	typ    reflect.Type
	doc    string
	def    string // the default tag: a YAML value
	hasDef bool
	enum   []string // from the enum tag: the accepted strings
}

// required reports whether the key must be written: its doc says
// "Required", or it is a section holding a required key.
func (f field) required() bool {
	if strings.Contains(f.doc, "Required") {
		return true
	}
	if f.typ.Kind() != reflect.Struct || scalarType(f.typ) {
		return false
	}
	for _, sub := range fieldsOf(f.typ) {
		if sub.required() {
			return true
		}
	}
	return false
}

var fieldCache sync.Map // reflect.Type → []field

// fieldsOf lists the keys of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if opts == "inline" {
			for _, f := range fieldsOf(sf.Type) {
				f.index = slices.Concat([]int{i}, f.index)
				out = append(out, f)
			}
			continue
		}
		if !sf.IsExported() || name == "-" || opts == "kind" || opts == "provider" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := field{key: name, index: []int{i}, typ: sf.Type, doc: sf.Tag.Get("doc")}
		f.def, f.hasDef = sf.Tag.Lookup("default")
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, ",")
		}
		out = append(out, f)
	}
	fieldCache.Store(t, out)
	return out
}

// keysOf lists the keys of struct type t.
func keysOf(t reflect.Type) []string {
	var keys []string
	for _, f := range fieldsOf(t) {
		keys = append(keys, f.key)
	}
	return keys
}

var defaultCache sync.Map // default tag → *yaml.Node

// defaultNode parses a default tag once.
func defaultNode(def string) (*yaml.Node, error) {
	if n, ok := defaultCache.Load(def); ok {
		return n.(*yaml.Node), nil
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader([]byte(def))).Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse default %q: %w", def, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("default %q is not one YAML value", def)
	}
	n := doc.Content[0]
	defaultCache.Store(def, n)
	return n, nil
}

// scalarType reports whether values of t decode themselves.
func scalarType(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[scalar]())
}

// unknownKey explains an unknown key: a guess when one valid key is close,
// otherwise the valid keys.
func unknownKey(key string, valid []string) string {
	if guess := closest(key, valid); guess != "" {
		return fmt.Sprintf("unknown key %q; did you mean %q?", key, guess)
	}
	return fmt.Sprintf("unknown key %q (valid keys: %s)", key, strings.Join(valid, ", "))
}

// closest returns the candidate nearest to s when it is near enough to be a
// likely typo, or "".
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) <= 4 {
		limit = 1
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance, counting a swap of two adjacent
// letters as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // not a typo of a config key; spare the quadratic work
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
