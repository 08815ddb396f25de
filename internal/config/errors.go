package config

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Error is one problem in a configuration file, at the position of the key or
// value it concerns. Line and Col are 1-based; 0 means unknown.
type Error struct {
	File      string
	Line, Col int
	// Path names the value, e.g. groups[0].policies[1].target.value or
	// groups[0].signals.cpu.expr; empty for problems with the file itself.
	Path string
	Msg  string
}

// Error renders the problem as file:line:col: path: msg, leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += fmt.Sprintf(":%d", e.Line)
		if e.Col > 0 {
			loc += fmt.Sprintf(":%d", e.Col)
		}
	}
	parts := make([]string, 0, 3)
	for _, p := range []string{loc, e.Path, e.Msg} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// Errors is every problem found in a configuration file, sorted by position.
type Errors struct {
	List []*Error
}

// Error renders one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, err := range e.List {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds each *Error.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, err := range e.List {
		out[i] = err
	}
	return out
}

// newErrors sorts the problems by position then path and drops exact
// duplicates (an alias decoded twice reports the same problem twice).
func newErrors(list []*Error) *Errors {
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Msg, b.Msg),
		)
	})
	list = slices.CompactFunc(list, func(a, b *Error) bool { return *a == *b })
	return &Errors{List: list}
}

// position is where a path was seen in the file.
type position struct{ line, col int }

// join appends a struct or map key to a path. Keys that would make the path
// ambiguous are quoted.
func join(path, key string) string {
	if !plainKey(key) {
		return path + "[" + fmt.Sprintf("%q", key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinKeys appends a dotted chain of struct keys, such as "up.cpu"; a key
// may end in list indexes, as "brokers[1]" or "cases[2].name" do.
func joinKeys(path, keys string) string {
	for _, k := range strings.Split(keys, ".") {
		name, idx := k, ""
		if m := indexed.FindStringSubmatch(k); m != nil {
			name, idx = m[1], m[2]
		}
		path = join(path, name) + idx
	}
	return path
}

// indexed is a key followed by list indexes.
var indexed = regexp.MustCompile(`^([^\[\]]+)((?:\[\d+\])+)$`)

// index appends a list index to a path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		ok := r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// parent strips the last element of a path: a.b[2] → a.b, a.b → a, a → "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}
