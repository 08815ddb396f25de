package source

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Path is a parsed path into a JSON document. Its syntax:
//
//	path     = [ step ] { "." step | selector }
//	step     = key | selector
//	selector = "[" field "=" value "]"
//
// A key names an object's member, or, on a list, an element by its index
// ("workers.0.busy"). A selector picks the first element of a list whose
// member field equals value: "[id=Source__kafka.pendingRecords].sum" reads
// the sum of the element whose id is "Source__kafka.pendingRecords" in
// Flink's aggregated metrics. Everything between "=" and the next "]" is the
// value, dots and spaces included, so a value cannot hold "]"; a key cannot
// hold "." or "[". A member compared by a selector may be a string, a
// number or a boolean (compared as written in JSON). The empty path is the
// whole document.
type Path struct {
	text  string
	steps []step
}

type step struct {
	key          string
	field, value string // a selector's, when selector is set
	selector     bool
}

// ParsePath parses a path.
func ParsePath(text string) (Path, error) {
	p := Path{text: text}
	rest := text
	first := true
	for rest != "" {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return Path{}, fmt.Errorf("path %q: [ without ]", text)
			}
			field, value, ok := strings.Cut(rest[1:end], "=")
			if !ok || field == "" {
				return Path{}, fmt.Errorf("path %q: a selector is [field=value], not %s", text, rest[:end+1])
			}
			p.steps = append(p.steps, step{field: field, value: value, selector: true})
			rest = rest[end+1:]
			if rest != "" && rest[0] != '.' && rest[0] != '[' {
				return Path{}, fmt.Errorf("path %q: ] must be followed by . or [ or end the path", text)
			}
		case rest[0] == '.':
			if first {
				return Path{}, fmt.Errorf("path %q: begins with .", text)
			}
			rest = rest[1:]
			if rest == "" || rest[0] == '.' {
				return Path{}, fmt.Errorf("path %q: empty key", text)
			}
			if rest[0] == '[' {
				return Path{}, fmt.Errorf("path %q: write a selector without a . before it: a[id=x], not a.[id=x]", text)
			}
			continue
		default:
			end := strings.IndexAny(rest, ".[]")
			if end < 0 {
				end = len(rest)
			}
			if rest[end:] != "" && rest[end] == ']' {
				return Path{}, fmt.Errorf("path %q: ] without [", text)
			}
			p.steps = append(p.steps, step{key: rest[:end]})
			rest = rest[end:]
		}
		first = false
	}
	return p, nil
}

// String is the path as written.
func (p Path) String() string { return p.text }

// missing is Find's and Number's error when the document has nothing at
// the path: the backend answered, but not with this value.
type missing struct{ what string }

func (m *missing) Error() string { return m.what }

// Is makes a missing value an ErrNoValue.
func (m *missing) Is(target error) bool { return target == ErrNoValue }

// Lookup returns the value at path in a JSON document.
func Lookup(body []byte, path string) (any, error) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return p.Find(doc)
}

// Find returns the value at p in a decoded JSON document.
func (p Path) Find(doc any) (any, error) {
	v := doc
	for i, s := range p.steps {
		next, ok := s.in(v)
		if !ok {
			return nil, &missing{fmt.Sprintf("no %s in the answer", p.prefix(i))}
		}
		v = next
	}
	return v, nil
}

// prefix shows the path up to and including step i, for a message.
func (p Path) prefix(i int) string {
	var b strings.Builder
	for j, s := range p.steps[:i+1] {
		if s.selector {
			fmt.Fprintf(&b, "[%s=%s]", s.field, s.value)
			continue
		}
		if j > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return strconv.Quote(b.String())
}

func (s step) in(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if s.selector {
			return nil, false
		}
		next, ok := x[s.key]
		return next, ok
	case []any:
		if s.selector {
			for _, e := range x {
				if m, ok := e.(map[string]any); ok && equal(m[s.field], s.value) {
					return m, true
				}
			}
			return nil, false
		}
		i, err := strconv.Atoi(s.key)
		if err != nil || i < 0 || i >= len(x) {
			return nil, false
		}
		return x[i], true
	}
	return nil, false
}

// equal compares a JSON member with a selector's value as written.
func equal(member any, value string) bool {
	switch m := member.(type) {
	case string:
		return m == value
	case float64:
		f, err := strconv.ParseFloat(value, 64)
		return err == nil && f == m
	case bool:
		return strconv.FormatBool(m) == value
	}
	return false
}

// Number reads a JSON value as a number: numbers as they are, booleans as
// 0 or 1, numeric strings parsed. null is missing.
func Number(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, &missing{"the value is null"}
	case float64:
		f = x
	case bool:
		if x {
			f = 1
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
	case map[string]any:
		return 0, fmt.Errorf("the value is an object, not a number")
	case []any:
		return 0, fmt.Errorf("the value is a list, not a number")
	default:
		return 0, fmt.Errorf("the value is %T, not a number", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("the value %v is not a finite number", f)
	}
	return f, nil
}
