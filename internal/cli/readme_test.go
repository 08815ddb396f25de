package cli

import (
	"os"
	"strings"
	"testing"
)

// codeBlocks returns the fenced blocks of a markdown file whose first line
// starts with prefix.
func codeBlocks(t *testing.T, path, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	parts := strings.Split(string(b), "```")
	for i := 1; i < len(parts); i += 2 {
		body := strings.TrimPrefix(parts[i], "\n")
		if strings.HasPrefix(strings.TrimLeft(body, " "), prefix) {
			out = append(out, body)
		}
	}
	return out
}

// The output shown in README.md and docs/engine.md is real: every line of it
// (besides "…" elisions) appears in what the README's first command prints.
func TestDocumentedOutput(t *testing.T) {
	args := []string{"simulate", "-c", "../../examples/web.yaml", "--signals", "../../examples/web-worldcup98.csv"}
	_, table, _ := run(t, args...)
	_, explained, _ := run(t, append(args, "--explain")...)
	checks := []struct {
		file, prefix, output string
	}{
		{"../../README.md", "t  group  desired  ready", table},
		{"../../README.md", "web at ", explained},
		{"../../docs/engine.md", "web at ", explained},
	}
	for _, c := range checks {
		blocks := codeBlocks(t, c.file, c.prefix)
		if len(blocks) == 0 {
			t.Errorf("%s: no block starting %q", c.file, c.prefix)
		}
		for _, block := range blocks {
			for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
				if strings.TrimSpace(line) == "…" {
					continue
				}
				if !strings.Contains(c.output, line+"\n") {
					t.Errorf("%s shows a line the command does not print:\n%q", c.file, line)
				}
			}
		}
	}
}
