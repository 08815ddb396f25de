package source

import (
	"strings"
	"sync"
	"testing"
)

func TestRender(t *testing.T) {
	var c Templates
	tests := []struct {
		text, group, want, wantErr string
	}{
		{text: "plain", group: "g", want: "plain"},
		{text: "{{.Group}}-jobs", group: "orders", want: "orders-jobs"},
		{text: "{{.Group}}-jobs", group: "billing", want: "billing-jobs"},
		{text: "{{.Nope}}", group: "g", wantErr: "invalid template"},
		{text: "{{", group: "g", wantErr: "invalid template"},
	}
	for _, tt := range tests {
		got, err := c.Render(tt.text, tt.group, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Render(%q) err = %v, want %q", tt.text, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Render(%q, %q) = %q, %v; want %q", tt.text, tt.group, got, err, tt.want)
		}
	}
	if len(c.parsed) != 1 {
		t.Errorf("cached %d templates, want 1 (the valid one with an action)", len(c.parsed))
	}
}

func TestRenderConcurrently(t *testing.T) {
	var c Templates
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				g := string(rune('a' + (i+j)%26))
				if got, err := c.Render("{{.Group}}!", g, nil); err != nil || got != g+"!" {
					t.Errorf("= %q, %v", got, err)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	var c Templates
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render("{{.Group}}-jobs", "orders", nil); err != nil {
			b.Fatal(err)
		}
	}
}
