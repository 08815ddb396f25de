package source

import (
	"fmt"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Templates renders the templates of kinds' queries ({{.Group}} in a queue
// name, {{.Addr}} in a URL), parsing each distinct text once: a template
// shared by 50,000 groups is parsed once, not at every read. Its zero value
// is ready; it is safe for concurrent use.
type Templates struct {
	mu     sync.RWMutex
	parsed map[string]*template.Template
}

// Render renders text for a read of group, or of inst when the read is
// per instance. A text without an action is returned as it is.
func (t *Templates) Render(text, group string, inst *model.Instance) (string, error) {
	switch {
	case !strings.Contains(text, "{{"):
		return text, nil
	case text == "{{.Group}}" && inst == nil: // the most common, without a template run
		return group, nil
	}
	t.mu.RLock()
	tmpl := t.parsed[text]
	t.mu.RUnlock()
	if tmpl == nil {
		var err error
		if tmpl, err = config.ParseTemplate("template", text); err != nil {
			return "", err
		}
		t.mu.Lock()
		if t.parsed == nil {
			t.parsed = map[string]*template.Template{}
		}
		t.parsed[text] = tmpl
		t.mu.Unlock()
	}
	return config.Execute(tmpl, data(group, inst))
}

// data is the template data of a read: the instance's when there is one,
// else the group's name alone.
func data(group string, inst *model.Instance) config.TemplateData {
	if inst != nil {
		d := config.DataFor(*inst)
		if d.Group == "" {
			d.Group = group
		}
		return d
	}
	return config.TemplateData{Group: group}
}

// UsesInstance reports whether a parsed template reads an instance's
// fields (.ID, .Zone, .Port, .Addr), which are empty for a group's read.
func UsesInstance(t *template.Template) bool {
	found := false
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if found || n == nil {
			return
		}
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(x.Pipe)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				walk(a)
			}
		case *parse.FieldNode:
			switch x.Ident[0] {
			case "ID", "Zone", "Port", "Addr":
				found = true
			}
		case *parse.IfNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.RangeNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.WithNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		}
	}
	if t != nil && t.Tree != nil {
		walk(t.Tree.Root)
	}
	return found
}

// GroupTemplate checks text, a template of a read that is the group's (a
// queue, a key): it parses and uses no instance field. what names it in
// the error.
func GroupTemplate(what, text string) error {
	t, err := config.ParseTemplate(what, text)
	if err != nil {
		return err
	}
	if UsesInstance(t) {
		return fmt.Errorf("may use only {{.Group}}: a %s is the group's, not an instance's", what)
	}
	return nil
}
