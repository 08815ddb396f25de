package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// TemplateData is what command, URL and env templates may use.
type TemplateData struct {
	ID    string // instance ID
	Group string
	Zone  string
	Port  int    // the port the instance was given
	Addr  string // host:port
}

// ParseTemplate parses a command, URL or env template and checks that it
// only uses TemplateData's fields.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	sample := TemplateData{ID: "i", Group: "g", Zone: "z", Port: 1, Addr: "127.0.0.1:1"}
	if err := t.Execute(&bytes.Buffer{}, sample); err != nil {
		return nil, fmt.Errorf("invalid template (fields: .ID .Group .Zone .Port .Addr): %w", err)
	}
	return t, nil
}

// DataFor is the template data of an instance.
func DataFor(inst model.Instance) TemplateData {
	d := TemplateData{ID: inst.ID, Group: inst.Group, Zone: inst.Zone, Addr: inst.Addr}
	if i := strings.LastIndexByte(inst.Addr, ':'); i >= 0 {
		d.Port, _ = strconv.Atoi(inst.Addr[i+1:])
	}
	return d
}

// Execute renders a parsed template for an instance.
func Execute(t *template.Template, data TemplateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}
