// Package templates renders the group templates of source kinds' queries
// ({{.Group}} in a queue name, a consumer group, a command line), parsing
// each distinct text once: a template shared by 50,000 groups is parsed
// once, not at every read.
package templates

import (
	"strings"
	"sync"
	"text/template"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Cache holds the parsed templates of a backend. Its zero value is ready;
// it is safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]*template.Template
}

// Render renders text for group. A text without an action is returned as
// it is, without a parse.
func (c *Cache) Render(text, group string) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := c.parsed(text)
	if err != nil {
		return "", err
	}
	return config.Execute(t, config.TemplateData{Group: group})
}

func (c *Cache) parsed(text string) (*template.Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[text]; ok {
		return t, nil
	}
	t, err := config.ParseTemplate("template", text)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*template.Template{}
	}
	c.m[text] = t
	return t, nil
}
