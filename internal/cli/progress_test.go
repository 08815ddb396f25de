package cli

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSimulateProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := progressTo(&b, "simulating")
	p.update(0)
	p.update(0.004) // still 0%: not redrawn
	p.update(0.5)
	p.update(2) // past the end: 100%
	p.clear()
	want := "\rsimulating [                              ]   0%" +
		"\rsimulating [===============               ]  50%" +
		"\rsimulating [==============================] 100%" +
		"\r\x1b[K"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("bar (-want +got):\n%s", d)
	}

	// Not a terminal: nothing at all.
	var quiet bytes.Buffer
	q := newProgress(&quiet, "simulating")
	q.update(0.5)
	q.clear()
	if quiet.Len() != 0 {
		t.Errorf("drew %q on a buffer; want nothing off a terminal", quiet.String())
	}
}

// Runs at once share one bar: it shows what they have done together, and
// they may report at once.
func TestSimulateProgressBarOfParts(t *testing.T) {
	var b bytes.Buffer
	p := newProgressParts(progressTo(&b, "ebb hpa"), 2)
	p.part(0)(0.5)
	p.part(1)(1)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			for k := range 100 {
				p.part(i)(float64(k) / 100)
			}
		})
	}
	wg.Wait()
	p.clear()
	var pcts []string
	for _, m := range regexp.MustCompile(`\] +(\d+)%`).FindAllStringSubmatch(b.String(), -1) {
		pcts = append(pcts, m[1])
	}
	if len(pcts) < 3 || pcts[0] != "25" || pcts[1] != "75" || pcts[len(pcts)-1] != "99" {
		t.Errorf("bar drew %v%%; want 25 (one run half done), 75, …, 99 (both at 99%%)", pcts)
	}
	if !strings.HasPrefix(b.String(), "\rebb hpa [") || !strings.HasSuffix(b.String(), "\r\x1b[K") {
		t.Errorf("bar drew %q; want it labelled and cleared at the end", b.String())
	}
}
