package cli

import (
	"bytes"
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
