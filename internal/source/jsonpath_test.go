package source

import (
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	doc := map[string]any{
		"queued":  12.0,
		"busy":    true,
		"s":       "3.5",
		"workers": []any{map[string]any{"busy": false, "n": 2.0}},
		"metrics": []any{
			map[string]any{"id": "Source: kafka.pendingRecords", "sum": 40.0},
			map[string]any{"id": "numRecordsInPerSecond", "sum": 7.0, "max": 3.0},
			map[string]any{"id": 3.0, "sum": 1.0},
		},
		"nested": map[string]any{"list": []any{[]any{map[string]any{"id": "a", "v": 9.0}}}},
	}
	tests := []struct {
		path     string
		want     float64
		parseErr string
		findErr  string
	}{
		{path: "queued", want: 12},
		{path: "busy", want: 1},
		{path: "s", want: 3.5},
		{path: "workers.0.busy", want: 0},
		{path: "workers.0.n", want: 2},
		{path: "metrics[id=Source: kafka.pendingRecords].sum", want: 40},
		{path: "metrics[id=numRecordsInPerSecond].max", want: 3},
		{path: "metrics[id=3].sum", want: 1},
		{path: "metrics.1.sum", want: 7},
		{path: "nested.list.0[id=a].v", want: 9},
		{path: "workers.1.busy", findErr: `no "workers.1" in the answer`},
		{path: "metrics[id=nope].sum", findErr: `no "metrics[id=nope]" in the answer`},
		{path: "queued[id=x]", findErr: `no "queued[id=x]" in the answer`},
		{path: "missing", findErr: `no "missing" in the answer`},
		{path: "workers", findErr: "the value is a list, not a number"},
		{path: "a..b", parseErr: "empty key"},
		{path: ".a", parseErr: "begins with ."},
		{path: "a.", parseErr: "empty key"},
		{path: "a.[id=x]", parseErr: "without a . before it"},
		{path: "a[id=x", parseErr: "[ without ]"},
		{path: "a]", parseErr: "] without ["},
		{path: "a[=x]", parseErr: "a selector is [field=value], not [=x]"},
		{path: "a[idx]", parseErr: "a selector is [field=value]"},
		{path: "a[id=x]b", parseErr: "] must be followed by . or [ or end the path"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := ParsePath(tt.path)
			if tt.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.parseErr) {
					t.Fatalf("parse err = %v, want %q", err, tt.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Find(doc)
			var f float64
			if err == nil {
				f, err = Number(v)
			}
			if tt.findErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.findErr) {
					t.Fatalf("err = %v, want %q", err, tt.findErr)
				}
				return
			}
			if err != nil || f != tt.want {
				t.Fatalf("= %v, %v; want %v", f, err, tt.want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b.0", "[id=x.y].sum", "a[k=v][k2=v2].c", "]", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		_, _ = p.Find(map[string]any{"a": []any{map[string]any{"id": "x"}}})
	})
}
