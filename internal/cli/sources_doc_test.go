package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sourcesDoc = "../../docs/sources.md"

// docs/sources.md: every YAML example is a whole configuration that
// validates with the kinds this ebb is built with, every kind has a
// section, and the generated reference of each kind's keys is current
// (-update rewrites it).
func TestSourcesDoc(t *testing.T) {
	b, err := os.ReadFile(sourcesDoc)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(md, -1)
	if len(blocks) < len(sourceKinds()) {
		t.Errorf("%d yaml examples for %d kinds", len(blocks), len(sourceKinds()))
	}
	for i, m := range blocks {
		if _, err := configKinds().Parse("example.yaml", []byte(m[1])); err != nil {
			t.Errorf("example %d in %s does not validate:\n%v\n%s", i+1, sourcesDoc, err, m[1])
		}
	}
	for _, k := range sourceKinds() {
		if !strings.Contains(md, "\n## "+k.Name+"\n") {
			t.Errorf("%s has no section \"## %s\"", sourcesDoc, k.Name)
		}
	}
	const begin, end = "<!-- reference:begin -->\n", "<!-- reference:end -->"
	i, j := strings.Index(md, begin), strings.Index(md, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q and %q markers", sourcesDoc, begin, end)
	}
	ref := "\n" + configKinds().Reference() + "\n\n"
	if got := md[i+len(begin) : j]; got != ref {
		if !*update {
			t.Fatalf("the reference in %s is stale; rerun with -update:\n%s", sourcesDoc, cmp.Diff(got, ref))
		}
		md = md[:i+len(begin)] + ref + md[j:]
		if err := os.WriteFile(sourcesDoc, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
