package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.json and the generated parts of docs/config.md")

const docsPath = "../../docs/config.md"

func TestSchema(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Schema()
	if !bytes.Equal(got, again) {
		t.Fatal("Schema() output differs between calls")
	}
	golden := filepath.Join("testdata", "schema.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Schema() differs from %s; rerun with -update if intended (-want +got):\n%s", golden, diff)
	}

	var s struct {
		Schema string `json:"$schema"`
		Defs   map[string]struct {
			Properties map[string]struct {
				Description string   `json:"description"`
				Default     any      `json:"default"`
				Enum        []string `json:"enum"`
			} `json:"properties"`
			Required             []string `json:"required"`
			AdditionalProperties *bool    `json:"additionalProperties"`
			OneOf                []any    `json:"oneOf"`
		} `json:"$defs"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{name: "draft", got: s.Schema, want: "https://json-schema.org/draft/2020-12/schema"},
		{name: "root required", got: s.Required, want: []string{"groups"}},
		{name: "group required", got: s.Defs["Group"].Required, want: []string{"name", "capacity", "policies"}},
		{name: "capacity required", got: s.Defs["Capacity"].Required, want: []string{"max"}},
		{name: "strict", got: *s.Defs["Group"].AdditionalProperties, want: false},
		{name: "duration default", got: s.Defs["Group"].Properties["interval"].Default, want: "15s"},
		{name: "number default", got: s.Defs["Streaming"].Properties["cpu_target"].Default, want: 0.8},
		{name: "list default", got: s.Defs["Down"].Properties["limits"].Default,
			want: []any{map[string]any{"percent": 100.0, "per": "15s"}}},
		{name: "enum", got: s.Defs["Target"].Properties["mode"].Enum, want: []string{"average", "hpa"}},
		{name: "one kind", got: len(s.Defs["Policy"].OneOf), want: len(kindNames)},
		{name: "description", got: s.Defs["Capacity"].Properties["min"].Description,
			want: "Fewest instances; 0 lets the group scale to zero."},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// block is one fenced code block of a markdown file.
type block struct {
	info       string // after the opening fence: "yaml", "text"
	body       string
	start, end int // byte offsets of the body
}

func fencedBlocks(md string) []block {
	var out []block
	for off := 0; ; {
		i := strings.Index(md[off:], "\n```")
		if i < 0 {
			return out
		}
		open := off + i + 4
		nl := strings.Index(md[open:], "\n")
		if nl < 0 {
			return out
		}
		info := md[open : open+nl]
		start := open + nl + 1
		j := strings.Index(md[start:], "```")
		if j < 0 {
			return out
		}
		out = append(out, block{info: info, body: md[start : start+j], start: start, end: start + j})
		off = start + j + 3
	}
}

// TestDocs keeps docs/config.md true: every yaml example loads, the error
// example prints what is shown, and the reference matches Reference().
// -update rewrites the generated parts.
func TestDocs(t *testing.T) {
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	blocks := fencedBlocks(md)
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var examples int
	for i, b := range blocks {
		if b.info != "yaml" {
			continue
		}
		examples++
		_, err := Parse("ebb.yaml", []byte(b.body))
		if !strings.HasPrefix(b.body, "# ebb.yaml, with mistakes") {
			if err != nil {
				t.Errorf("example %d does not load:\n%v", examples, err)
			}
			continue
		}
		if err == nil || i+1 >= len(blocks) || blocks[i+1].info != "text" {
			t.Errorf("example %d: want a failing example followed by a text block of its errors", examples)
			continue
		}
		want, out := blocks[i+1].body, err.Error()+"\n"
		if want != out {
			if *update {
				edits = append(edits, edit{blocks[i+1].start, blocks[i+1].end, out})
			} else {
				t.Errorf("the errors shown after example %d differ from Parse's; rerun with -update (-doc +Parse):\n%s",
					examples, cmp.Diff(want, out))
			}
		}
	}
	if examples < 2 {
		t.Errorf("found %d yaml examples in %s", examples, docsPath)
	}

	const begin, end = "<!-- reference:begin -->\n", "<!-- reference:end -->"
	i, j := strings.Index(md, begin), strings.Index(md, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q and %q markers", docsPath, begin, end)
	}
	ref := "\n" + Reference() + "\n\n"
	if got := md[i+len(begin) : j]; got != ref {
		if *update {
			edits = append(edits, edit{i + len(begin), j, ref})
		} else {
			t.Errorf("the reference in %s is stale; rerun with -update (-doc +Reference):\n%s", docsPath, cmp.Diff(got, ref))
		}
	}
	if len(edits) > 0 {
		for k := len(edits) - 1; k >= 0; k-- { // back to front: offsets stay valid
			e := edits[k]
			md = md[:e.start] + e.text + md[e.end:]
		}
		if err := os.WriteFile(docsPath, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReferenceCoversEveryKey(t *testing.T) {
	ref := Reference()
	for _, key := range []string{
		"`groups[].signals.NAME.aggregate`",
		"`groups[].policies[].step.steps[].from`",
		"`groups[].behavior.up.select`",
		"`groups[].behavior.down.datapoints`",
		"`budgets[].groups`",
		"`groups[].lifecycle.launch.boot`",
	} {
		if !strings.Contains(ref, "| "+key+" |") {
			t.Errorf("Reference() has no row for %s", key)
		}
	}
	if strings.Count(ref, "### `groups[].policies[].simple.datapoints`") != 1 ||
		strings.Contains(ref, "### `groups[].behavior.up.datapoints`") {
		t.Errorf("MofN must have one section, referenced from the others")
	}
}
