package postgres

import "strings"

// shape is what a query's text says about itself, read outside string
// literals, quoted identifiers and comments.
type shape struct {
	params int    // the highest $N
	first  string // the first keyword, lower case
}

// scan reads sql the way PostgreSQL's lexer splits it, only as far as
// shape needs: '…' (with ” and, after E, backslash escapes), "…",
// $tag$…$tag$, -- and /* */ (nested) comments. A parameter inside a string
// is not a parameter; an identifier may hold a $ (a$1).
func scan(sql string) shape {
	var s shape
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '\'':
			esc := i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') && (i < 2 || !identChar(sql[i-2]))
			i++
			for i < n {
				if esc && sql[i] == '\\' {
					i += 2
					continue
				}
				if sql[i] == '\'' {
					if i+1 < n && sql[i+1] == '\'' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
		case c == '"':
			j := strings.IndexByte(sql[i+1:], '"')
			if j < 0 {
				return s
			}
			i += j + 2
		case c == '-' && i+1 < n && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return s
			}
			i += j + 1
		case c == '/' && i+1 < n && sql[i+1] == '*':
			depth := 0
			for i < n {
				switch {
				case strings.HasPrefix(sql[i:], "/*"):
					depth++
					i += 2
				case strings.HasPrefix(sql[i:], "*/"):
					depth--
					i += 2
				default:
					i++
				}
				if depth == 0 {
					break
				}
			}
		case c == '$' && (i == 0 || !identChar(sql[i-1])):
			j := i + 1
			for j < n && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j > i+1 {
				p := 0
				for _, d := range sql[i+1 : j] {
					p = min(p*10+int(d-'0'), 1<<16)
				}
				s.params = max(s.params, p)
				i = j
				continue
			}
			for j < n && identChar(sql[j]) && sql[j] != '$' {
				j++
			}
			if j < n && sql[j] == '$' {
				tag := sql[i : j+1]
				k := strings.Index(sql[j+1:], tag)
				if k < 0 {
					return s
				}
				i = j + 1 + k + len(tag)
				continue
			}
			i++
		case identChar(c) && (c < '0' || c > '9') && c != '$':
			j := i
			for j < n && identChar(sql[j]) {
				j++
			}
			if s.first == "" {
				s.first = strings.ToLower(sql[i:j])
			}
			i = j
		default:
			i++
		}
	}
	return s
}

func identChar(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
