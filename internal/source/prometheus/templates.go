package prometheus

import (
	"strings"
	"sync"
	"text/template"
)

// templates parses each template text once and keeps it: tens of
// thousands of groups share a few templates, and a tick renders one per
// group.
type templates struct {
	mu sync.RWMutex
	m  map[string]*template.Template
}

// data is what a template sees.
type data struct{ Group string }

// render renders text for group. Text without {{ is returned as is, and
// the default {{.Group}} without running a template.
func (t *templates) render(text, group string) (string, error) {
	switch {
	case !strings.Contains(text, "{{"):
		return text, nil
	case text == defaultValue:
		return group, nil
	}
	tpl, err := t.get(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tpl.Execute(&b, data{Group: group}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (t *templates) get(text string) (*template.Template, error) {
	t.mu.RLock()
	tpl := t.m[text]
	t.mu.RUnlock()
	if tpl != nil {
		return tpl, nil
	}
	tpl, err := template.New("text").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*template.Template{}
	}
	t.m[text] = tpl
	return tpl, nil
}
