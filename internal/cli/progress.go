package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// progress is a one-line bar redrawn in place on a terminal. Anywhere else
// (a file, a pipe, a test's buffer) it draws nothing, so logs and captured
// output stay clean.
type progress struct {
	w     io.Writer // nil: draw nothing
	label string
	shown int // the percentage drawn last; -1 before the first
}

// newProgress draws on w only if w is a terminal.
func newProgress(w io.Writer, label string) *progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return progressTo(f, label)
	}
	return &progress{label: label, shown: -1}
}

// progressTo draws on w whatever it is.
func progressTo(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, shown: -1}
}

// barWidth is the bar's length in characters.
const barWidth = 30

// update redraws the bar for the fraction done, when its percentage moved.
func (p *progress) update(done float64) {
	if p.w == nil {
		return
	}
	pct := int(100 * min(max(done, 0), 1))
	if pct == p.shown {
		return
	}
	p.shown = pct
	full := pct * barWidth / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%%", p.label, strings.Repeat("=", full), strings.Repeat(" ", barWidth-full), pct)
}

// clear erases the bar, if one was drawn, leaving the cursor at the start
// of the line.
func (p *progress) clear() {
	if p.w == nil || p.shown < 0 {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	p.shown = -1
}

// progressParts is one bar for several runs at once: it shows the mean of
// what each part has done.
type progressParts struct {
	mu   sync.Mutex
	bar  *progress
	done []float64
}

func newProgressParts(bar *progress, n int) *progressParts {
	return &progressParts{bar: bar, done: make([]float64, n)}
}

// part is the progress callback of part i; parts may call theirs at once.
func (p *progressParts) part(i int) func(done float64) {
	return func(done float64) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.done[i] = done
		sum := 0.0
		for _, d := range p.done {
			sum += d
		}
		p.bar.update(sum / float64(len(p.done)))
	}
}

// clear erases the bar.
func (p *progressParts) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.clear()
}
