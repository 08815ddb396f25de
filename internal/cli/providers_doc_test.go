package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const providersDoc = "../../docs/providers.md"

// docs/providers.md: every YAML example is a whole configuration that
// validates with the kinds this ebb is built with, every provider kind has
// a section, and the generated reference of each kind's keys is current
// (-update rewrites it).
func TestProvidersDoc(t *testing.T) {
	b, err := os.ReadFile(providersDoc)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for i, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(md, -1) {
		if !strings.Contains(m[1], "groups:") {
			continue // a fragment, shown for its shape
		}
		if _, err := configKinds().Parse("example.yaml", []byte(m[1])); err != nil {
			t.Errorf("example %d in %s does not validate:\n%v\n%s", i+1, providersDoc, err, m[1])
		}
	}
	for _, k := range providerKinds() {
		if !strings.Contains(md, "\n## "+k.Name+"\n") {
			t.Errorf("%s has no section \"## %s\"", providersDoc, k.Name)
		}
	}
	const begin, end = "<!-- reference:begin -->\n", "<!-- reference:end -->"
	i, j := strings.Index(md, begin), strings.Index(md, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q and %q markers", providersDoc, begin, end)
	}
	ref := "\n" + configKinds().ProviderReference() + "\n\n"
	if got := md[i+len(begin) : j]; got != ref {
		if !*update {
			t.Fatalf("the reference in %s is stale; rerun with -update:\n%s", providersDoc, cmp.Diff(got, ref))
		}
		md = md[:i+len(begin)] + ref + md[j:]
		if err := os.WriteFile(providersDoc, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
